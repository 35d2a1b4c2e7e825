// bin/tlsshd with PrivkeyEngine tpm: only the listener opens the TPM, its key agent's socket is
// private, and the daemon refuses to start, with one line and status 255, when its TPM key cannot sign (wrong password, no TPM) or
// when a config file holding a password is readable by others. It never prompts.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueCert, makeCa, makeTempDir, type Ca } from '../helpers/ca';
import { connectClient, sessionRequest, startTlsshd, type ClientIdentity } from '../helpers/server-harness';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { ROOT, TLSSHD, tpmIdentity, type TpmIdentity } from './tpm-login-fixture';

const TLSSHCTL = path.join(ROOT, 'bin', 'tlsshctl');

/**
 * A TCP relay in front of swtpm's two ports that counts connections. libtss2's swtpm TCTI opens
 * the control port once when a program starts using the TPM, and the data port for each command.
 */
async function countingRelay(tpm: Swtpm): Promise<{ tcti: string; counts: { ctrl: number; data: number }; close(): void }> {
  const counts = { ctrl: 0, data: 0 };
  const servers: net.Server[] = [];
  const relay = (target: number, kind: 'ctrl' | 'data', port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const server = net.createServer((c) => {
        counts[kind]++;
        const up = net.connect(target, '127.0.0.1');
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      });
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => {
        servers.push(server);
        resolve(true);
      });
    });
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    if ((await relay(tpm.port, 'data', base)) && (await relay(tpm.port + 1, 'ctrl', base + 1))) {
      return { tcti: `swtpm:host=127.0.0.1,port=${base}`, counts, close: () => servers.forEach((x) => x.close()) };
    }
    servers.splice(0).forEach((x) => x.close());
  }
  throw new Error('no free port pair for the relay');
}

/** A file-key client identity (the daemon's TPM key is what these tests are about). */
/** `true` runs through the daemon on `port` and exits 0, with no transport error. */
async function assertLogsIn(port: number, client: ClientIdentity): Promise<void> {
  const s = connectClient(port, client, sessionRequest({ command: 'true' }));
  s.socket.once('secureConnect', () => s.endStdin());
  const r = await s.result;
  assert.equal(r.transportError, undefined);
  assert.equal(r.exit?.code, 0);
}

function makeClient(ca: Ca): { caFile: string; certFile: string; keyFile: string } {
  const c = issueCert(ca, { cn: os.userInfo().username, eku: 'clientAuth', fileStem: 'client' });
  return { caFile: ca.certFile, certFile: c.certFile, keyFile: c.keyFile };
}

describe('tlsshd with a TPM key', () => {
  let dir: string;
  let ca: Ca;
  let tpm: Swtpm;
  let plain: TpmIdentity;
  let withPassword: TpmIdentity;

  before(async () => {
    dir = makeTempDir('tlsshd-tpm');
    ca = makeCa(path.join(dir, 'ca'));
    tpm = await startSwtpm();
    plain = tpmIdentity(ca, tpm, dir, 'server', { cn: 'localhost', server: true });
    withPassword = tpmIdentity(ca, tpm, dir, 'server-pw', { cn: 'localhost', server: true }, { password: 'daemon secret' });
  });
  after(async () => {
    await tpm?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  function config(id: TpmIdentity, extra: Record<string, string>, mode: number): string {
    const file = path.join(dir, `tlsshd-${++n}.conf`);
    const lines = {
      Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(dir, `run-${n}`), PidFile: path.join(dir, `tlsshd-${n}.pid`),
      // The background needs somewhere to log on a host without /dev/log.
      LogFile: path.join(dir, `tlsshd-${n}.log`),
      CertFile: id.certFile, KeyFile: id.keyFile, PrivkeyEngine: 'tpm', TpmTcti: tpm.tcti, ClientCAFile: ca.certFile,
      // This machine need not have /etc/pam.d/tlsshd, which -t would warn about (server-startup-checks).
      PAMServiceName: 'other',
      ...extra,
    };
    fs.writeFileSync(file, Object.entries(lines).map(([k, v]) => `${k} ${v}\n`).join(''), { mode });
    fs.chmodSync(file, mode);
    return file;
  }

  /** Starts tlsshd in the background, as an administrator would; stdin is no terminal. */
  function start(conf: string): { status: number | null; stderr: string } {
    const r = spawnSync(process.execPath, [TLSSHD, '-c', conf], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const pidFile = /^PidFile (.*)$/m.exec(fs.readFileSync(conf, 'utf8'))?.[1];
    if (r.status === 0 && pidFile) {
      // Running in the background now: stop it, whatever the test expected.
      try {
        process.kill(Number(fs.readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // already gone
      }
    }
    return { status: r.status, stderr: r.stderr };
  }

  function assertRefused(r: { status: number | null; stderr: string }, mustName: string): void {
    assert.equal(r.status, 255, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', /^tlsshd: /);
    assert.ok(lines[0]?.includes(mustName), r.stderr);
    assert.doesNotMatch(r.stderr, /EVP lib|error:[0-9A-F]{8}:/);
  }

  it('keeps the key agent socket private to the daemon', async () => {
    const runtimeDir = path.join(dir, 'run-private');
    fs.mkdirSync(runtimeDir, { mode: 0o755 });
    fs.chmodSync(runtimeDir, 0o755);
    const d = await startTlsshd({
      dir,
      config: { CertFile: plain.certFile, KeyFile: plain.keyFile, PrivkeyEngine: 'tpm', TpmTcti: tpm.tcti, ClientCAFile: ca.certFile, RuntimeDir: runtimeDir },
    });
    try {
      const sock = fs.lstatSync(path.join(runtimeDir, 'tpm-agent.sock'));
      assert.ok(sock.isSocket());
      assert.equal(sock.mode & 0o777, 0o600);
      assert.equal(fs.statSync(runtimeDir).mode & 0o777, 0o700);
    } finally {
      await d.stop();
    }
  });

  it('tlsshctl status reports the key agent: signs, errors, TPM latency p50/p99 and queue', async () => {
    const d = await startTlsshd({
      dir,
      config: { CertFile: plain.certFile, KeyFile: plain.keyFile, PrivkeyEngine: 'tpm', TpmTcti: tpm.tcti, ClientCAFile: ca.certFile, RuntimeDir: path.join(dir, 'run-status') },
    });
    try {
      await assertLogsIn(d.port, makeClient(ca));
      const ctl = (args: string[]): string => {
        const r = spawnSync(process.execPath, [TLSSHCTL, '-c', d.configFile, ...args], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout;
      };
      const st = (JSON.parse(ctl(['status', '--json'])) as { status: { tpmAgent: { signs: number; errors: number; p50Ms: number; p99Ms: number; queue: number; stalled: boolean } } }).status;
      const a = st.tpmAgent;
      // The start-up check and the login's handshake each signed once.
      assert.ok(a.signs >= 2, JSON.stringify(a));
      assert.equal(a.errors, 0);
      assert.equal(a.queue, 0);
      assert.equal(a.stalled, false);
      assert.ok(a.p50Ms > 0 && a.p99Ms >= a.p50Ms, JSON.stringify(a));
      assert.match(ctl(['status']), /^TPM key agent: \d+ signs, 0 errors, latency p50 [\d.]+ ms p99 [\d.]+ ms, queue 0$/m);
    } finally {
      await d.stop();
    }
  });

  it('signs for its workers in the listener: no worker opens the TPM', async () => {
    const relay = await countingRelay(tpm);
    const client = makeClient(ca);
    const d = await startTlsshd({
      dir,
      config: { CertFile: plain.certFile, KeyFile: plain.keyFile, PrivkeyEngine: 'tpm', TpmTcti: relay.tcti, ClientCAFile: ca.certFile, PermitRootLogin: 'yes' },
    });
    try {
      const opened = relay.counts.ctrl;
      const before = relay.counts.data;
      for (let i = 0; i < 3; i++) {
        await assertLogsIn(d.port, client);
      }
      assert.equal(opened, 1, 'the listener opened the TPM once, at start-up');
      assert.equal(relay.counts.ctrl, opened, 'no worker opened the TPM');
      assert.ok(relay.counts.data > before, 'the key agent signed');
    } finally {
      await d.stop();
      relay.close();
    }
  });

  it('uses a TSS2 key file in the TPM without PrivkeyEngine, as tlssh does', async () => {
    const client = makeClient(ca);
    const d = await startTlsshd({
      dir,
      config: { CertFile: plain.certFile, KeyFile: plain.keyFile, TpmTcti: tpm.tcti, ClientCAFile: ca.certFile, PermitRootLogin: 'yes' },
    });
    try {
      await assertLogsIn(d.port, client);
    } finally {
      await d.stop();
    }
  });

  it('keeps its TPM key across a SIGHUP that names another TPM key', async () => {
    const client = makeClient(ca);
    const d = await startTlsshd({
      dir,
      config: { CertFile: plain.certFile, KeyFile: plain.keyFile, PrivkeyEngine: 'tpm', TpmTcti: tpm.tcti, ClientCAFile: ca.certFile, PermitRootLogin: 'yes' },
    });
    try {
      const other = tpmIdentity(ca, tpm, dir, 'other-server', { cn: 'localhost', server: true });
      const text = fs.readFileSync(d.configFile, 'utf8')
        .replace(/^CertFile .*$/m, `CertFile ${other.certFile}`)
        .replace(/^KeyFile .*$/m, `KeyFile ${other.keyFile}`);
      fs.writeFileSync(d.configFile, text);
      process.kill(d.pid, 'SIGHUP');
      await d.waitForLog(/configuration reloaded/);
      await assertLogsIn(d.port, client);
    } finally {
      await d.stop();
    }
  });

  it('refuses to start with a wrong PrivkeyPassword', () => {
    const r = start(config(withPassword, { PrivkeyPassword: 'not it' }, 0o600));
    assertRefused(r, withPassword.keyFile);
    assert.match(r.stderr, /lock/i, 'warns that repeated failures can lock the TPM');
  });

  it('starts with the right PrivkeyPassword', () => {
    const r = start(config(withPassword, { PrivkeyPassword: 'daemon secret' }, 0o600));
    assert.equal(r.status, 0, r.stderr);
  });

  it('refuses to start when its key needs a password the config does not give, without prompting', () => {
    const r = start(config(withPassword, {}, 0o600));
    assertRefused(r, withPassword.keyFile);
  });

  it('starts with a noDA key whose file says emptyAuth FALSE (tpm2_encodeobject) and no PrivkeyPassword', async () => {
    const { parseTss2PrivateKey, encodeTss2PrivateKey } = await import('../../src/tpm');
    const k = parseTss2PrivateKey(fs.readFileSync(plain.keyFile), plain.keyFile);
    const keyFile = path.join(dir, 'server-encodeobject.tss2');
    fs.writeFileSync(keyFile, encodeTss2PrivateKey({ emptyAuth: false, parent: k.parent, pub: k.pub, priv: k.priv }), { mode: 0o600 });
    const r = start(config({ ...plain, keyFile }, {}, 0o600));
    assert.equal(r.status, 0, r.stderr);
  });

  it('refuses a config file that holds a password but others can read', () => {
    const conf = config(withPassword, { PrivkeyPassword: 'daemon secret' }, 0o644);
    assertRefused(start(conf), conf);
  });

  it('refuses to start when its TPM is not there, naming the TCTI', async () => {
    const gone = await startSwtpm();
    const tcti = gone.tcti;
    await gone.stop();
    const r = start(config(plain, { TpmTcti: tcti }, 0o600));
    assertRefused(r, tcti);
  });

  function test(conf: string): { status: number | null; stderr: string; stdout: string } {
    return spawnSync(process.execPath, [TLSSHD, '-t', '-c', conf], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  it('-t: the TPM key signs a test digest the certificate verifies; silent, exit 0', () => {
    const r = test(config(plain, {}, 0o600));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
    const pw = test(config(withPassword, { PrivkeyPassword: 'daemon secret' }, 0o600));
    assert.equal(pw.status, 0, pw.stderr);
  });

  it('-t: a wrong PrivkeyPassword is one line and 255, as at start', () => {
    assertRefused(test(config(withPassword, { PrivkeyPassword: 'not it' }, 0o600)), withPassword.keyFile);
  });

  it('a TPM key that is not the certificate\'s is refused by -t and at start, naming the key file', () => {
    const mixed = { certFile: withPassword.certFile, keyFile: plain.keyFile };
    for (const r of [test(config(mixed, {}, 0o600)), start(config(mixed, {}, 0o600))]) {
      assertRefused(r, plain.keyFile);
      assert.match(r.stderr, /holds a different key than the certificate|does not verify the signature/);
    }
  });
});
