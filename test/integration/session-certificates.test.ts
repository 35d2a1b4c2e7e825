// Sessions follow their certificates, through the real tlsshd, tlssh and tlsshctl: a certificate
// that lives about a minute gets its warning line and then its session ended with
// TLSSH_ERR_CERT_EXPIRED_IN_SESSION; a CRL update plus `tlsshctl reload` ends the session of the
// revoked certificate only; a CA change plus SIGHUP ends the sessions that no longer chain; an
// unparsable CRL on reload is refused and the old one stays. No timing assertions: codes and lines.

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SessionView } from '../../src/server/control-protocol';
import { issueCert, makeCa, makeCrl, type Issued } from '../helpers/ca';
import { ctl, waitForControlSessions } from './tlsshctl-client';
import { TLSSH, errorCodeOf, startFixture, type ClientFixture } from './client-fixture';

const WARNING = /^tlssh: your certificate expires in (\d+ (?:seconds?|minutes?)); this session will end then\r?$/m;

interface Live {
  child: ChildProcess;
  ready: Promise<void>;
  ended: Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/** tlssh running a long command (or a shell on a forced terminal) until the daemon ends it. */
function live(configFile: string, extra: string[], command: string[]): Live {
  const child = spawn(process.execPath, [TLSSH, '-v', '-c', configFile, ...extra, 'localhost', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b.toString();
    if (stdout.includes('ready')) markReady();
  });
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  // A bound against a hang, never a timing assertion.
  const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  const ended = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (status) => {
    clearTimeout(killer);
    resolve({ status, stdout, stderr });
  }));
  return { child, ready, ended };
}

describe('sessions follow their certificates', () => {
  let fx: ClientFixture;
  let crlFile: string;
  let conf: string[];

  const clientConfig = (id: Issued, name: string): string => {
    const file = path.join(fx.dir, `${name}.conf`);
    const text = fs.readFileSync(fx.configFile, 'utf8').replace(/^CertFile .*$/m, `CertFile ${id.certFile}`).replace(/^KeyFile .*$/m, `KeyFile ${id.keyFile}`);
    fs.writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const waitForSessions = (n: number): Promise<SessionView[]> => waitForControlSessions(conf, n);

  before(async () => {
    // The fixture's CA makes the server certificate too; the CRL starts empty.
    fx = await startFixture({ serverConfig: {} });
    crlFile = path.join(fx.dir, 'client.crl');
    fs.copyFileSync(makeCrl(fx.ca, []), crlFile);
    const original = fs.readFileSync(fx.server.configFile, 'utf8');
    fs.writeFileSync(fx.server.configFile, `${original}ClientCRL ${crlFile}\n`);
    conf = ['-c', fx.server.configFile];
    const r = await ctl([...conf, 'reload']);
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    await fx?.stop();
  });

  it('warns a command session on stderr and a terminal session on its terminal, then ends both at expiry', async () => {
    // About a minute left: less than the default 5-minute lead, so the warning comes at login.
    const short = issueCert(fx.ca, { cn: fx.user, eku: 'clientAuth', fileStem: 'short', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 70_000) });
    const file = clientConfig(short, 'short');
    const cmd = live(file, [], ['echo ready; exec sleep 1000']);
    const term = live(file, ['-tt'], ['echo ready; exec sleep 1000']);
    const [c, t] = await Promise.all([cmd.ended, term.ended]);
    for (const [name, e, where] of [['command', c, c.stderr], ['terminal', t, t.stdout]] as const) {
      assert.equal(e.status, 255, `${name}: ${e.stderr}`);
      assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_CERT_EXPIRED_IN_SESSION', `${name}: ${e.stderr}`);
      const m = WARNING.exec(where);
      assert.ok(m, `${name}: no warning line in ${JSON.stringify(where)}`);
    }
    assert.doesNotMatch(c.stdout, WARNING, 'a command session gets the warning on stderr only');
    await fx.server.waitForLog(/conn \d+ user \S+ .*: TLSSH_ERR_CERT_EXPIRED_IN_SESSION: client certificate expired at/);
  });

  it('a CRL that revokes a logged-in certificate ends that session on tlsshctl reload, and only that one', async () => {
    // A first byte under 0x10: the log must print the serial as openssl and the accepted line do (05..., not 5...).
    const doomed = issueCert(fx.ca, { cn: fx.user, eku: 'clientAuth', fileStem: 'doomed', serial: `05${randomBytes(15).toString('hex').toUpperCase()}` });
    const keep = live(fx.configFile, [], ['echo ready; exec sleep 1000']);
    const gone = live(clientConfig(doomed, 'doomed'), [], ['echo ready; exec sleep 1000']);
    try {
      await Promise.all([keep.ready, gone.ready]);
      await waitForSessions(2);
      fs.copyFileSync(makeCrl(fx.ca, [doomed.certFile]), crlFile);
      const r = await ctl([...conf, 'reload']);
      assert.equal(r.status, 0, r.stderr);
      // The log line first: a daemon that keeps the session fails here, not at the hang bound.
      await fx.server.waitForLog(new RegExp(`conn \\d+: ending the session of .*: TLSSH_ERR_CERT_REVOKED_IN_SESSION: certificate serial ${doomed.serial} `));
      const e = await gone.ended;
      assert.equal(e.status, 255, e.stderr);
      assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_CERT_REVOKED_IN_SESSION', e.stderr);
      const left = await waitForSessions(1);
      assert.equal(left[0]?.serial, fx.client.serial);

      // An unparsable CRL is refused: the old one stays, and so does the session.
      fs.writeFileSync(crlFile, '-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n');
      const bad = await ctl([...conf, 'reload']);
      assert.equal(bad.status, 255, bad.stdout);
      assert.match(bad.stderr, /keeping the old configuration: .*ClientCRL/);
      await fx.server.waitForLog(/tlsshctl reload: keeping the old configuration: .*ClientCRL/);
      assert.equal((await waitForSessions(1))[0]?.serial, fx.client.serial);
    } finally {
      keep.child.kill('SIGKILL');
      gone.child.kill('SIGKILL');
      await Promise.all([keep.ended, gone.ended]);
      fs.copyFileSync(makeCrl(fx.ca, []), crlFile);
      await ctl([...conf, 'reload']);
    }
  });

  it('a ClientCAFile that no longer holds the issuer ends the session on SIGHUP', async () => {
    const caFile = /^ClientCAFile (.*)$/m.exec(fs.readFileSync(fx.server.configFile, 'utf8'))?.[1];
    assert.ok(caFile);
    const saved = fs.readFileSync(caFile);
    const s = live(fx.configFile, [], ['echo ready; exec sleep 1000']);
    try {
      await s.ready;
      await waitForSessions(1);
      // Another CA only; the CRL of the old one is merely "not issued by a CA" (a warning).
      const other = makeCa(path.join(fx.dir, 'other-ca'), 'another test CA');
      fs.copyFileSync(other.certFile, caFile);
      process.kill(fx.server.pid, 'SIGHUP');
      await fx.server.waitForLog(/: ending the session of .*: TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION: certificate .* no longer chains to ClientCAFile/);
      const e = await s.ended;
      assert.equal(e.status, 255, e.stderr);
      assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION', e.stderr);
    } finally {
      s.child.kill('SIGKILL');
      await s.ended;
      fs.writeFileSync(caFile, saved);
      process.kill(fx.server.pid, 'SIGHUP');
    }
  });
});
