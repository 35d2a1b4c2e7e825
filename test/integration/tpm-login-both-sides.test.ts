// Logins through the real bin/tlssh and bin/tlsshd with the private keys of BOTH ends inside
// (separate) software TPMs: a command, an interactive PTY session, an RSA key (TLS 1.3 signs
// with RSA-PSS, made from the TPM's raw RSA operation), TpmTcti from the environment, and a
// daemon whose TPM goes away and comes back while it runs.

import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTlsshd } from '../helpers/server-harness';
import { startSwtpm } from '../helpers/swtpm';
import { TLSSH, codeOf, runTlssh, startTpmLogin, tpmIdentity, type TpmLoginFixture } from './tpm-login-fixture';
import { testHome } from '../helpers/test-home';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

describe('tlssh to tlsshd with TPM keys on both sides', () => {
  let fx: TpmLoginFixture;

  before(async () => {
    fx = await startTpmLogin();
  });
  after(async () => {
    await fx?.stop();
  });

  it('runs a command', async () => {
    const r = await runTlssh(['-c', fx.clientConfig(), 'localhost', 'echo tpm-both-$((6*7)); exit 3']);
    assert.equal(r.stdout, 'tpm-both-42\n', r.stderr);
    assert.equal(r.status, 3, r.stderr);
  });

  it('runs an interactive PTY session', async () => {
    const p = nodePty.spawn(process.execPath, [TLSSH, '-c', fx.clientConfig(), 'localhost'], {
      name: 'xterm', cols: 91, rows: 27, env: { ...process.env, LANG: 'C', HOME: testHome() } as Record<string, string>,
    });
    let out = '';
    p.onData((d) => (out += d));
    const exit = new Promise<number>((resolve) => p.onExit((e) => resolve(e.exitCode)));
    const until = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 1500 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(out, re);
    };
    // Arithmetic, so the echo of the typed line cannot match.
    p.write('tty; stty size; echo pty-$((6*7))\r');
    await until(/pty-42/);
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /27 91/);
    p.write('exit 7\r');
    assert.equal(await exit, 7, out);
  });

  it('logs in with an RSA TPM key on each side', async () => {
    const rsaServerTpm = await startSwtpm();
    const rsaDaemon = await (async () => {
      try {
        const key = tpmIdentity(fx.ca, rsaServerTpm, fx.dir, 'server-rsa', { cn: 'localhost', server: true }, { rsa: true });
        return await startTlsshd({
          dir: fx.dir,
          config: {
            CertFile: key.certFile, KeyFile: key.keyFile, PrivkeyEngine: 'tpm', TpmTcti: rsaServerTpm.tcti,
            ClientCAFile: fx.ca.certFile, PermitRootLogin: 'yes', RuntimeDir: path.join(fx.dir, 'run-rsa'),
          },
        });
      } catch (e) {
        await rsaServerTpm.stop();
        throw e;
      }
    })();
    try {
      const client = tpmIdentity(fx.ca, fx.clientTpm, fx.dir, 'client-rsa', { cn: fx.user }, { rsa: true });
      const conf = fx.clientConfig({ Port: String(rsaDaemon.port) }, client);
      const r = await runTlssh(['-c', conf, '-v', 'localhost', 'echo rsa-ok']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'rsa-ok\n');
      assert.match(r.stderr, /TLSv1\.3/);
    } finally {
      await rsaDaemon.stop();
      await rsaServerTpm.stop();
    }
  });

  it('takes the TCTI from TPM2TOOLS_TCTI when TpmTcti is not set', async () => {
    const conf = fx.clientConfig({ TpmTcti: '' });
    const withEnv = await runTlssh(['-c', conf, 'localhost', 'echo env-tcti'], { TPM2TOOLS_TCTI: fx.clientTpm.tcti });
    assert.equal(withEnv.status, 0, withEnv.stderr);
    assert.equal(withEnv.stdout, 'env-tcti\n');
    // TpmTcti wins over the environment.
    const both = await runTlssh(['-c', fx.clientConfig(), 'localhost', 'echo conf-tcti'], { TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=1' });
    assert.equal(both.status, 0, both.stderr);
  });

  it('keeps serving logins after the daemon\'s TPM stops and starts again', async () => {
    const conf = fx.clientConfig();
    assert.equal((await runTlssh(['-c', conf, 'localhost', 'true'])).status, 0);
    await fx.serverTpm.kill();
    const during = await runTlssh(['-c', conf, '-v', 'localhost', 'true']);
    assert.equal(during.status, 255);
    // The client cannot be told why (the server's reasons are its own): a failed handshake.
    assert.equal(codeOf(during.stderr), 'TLSSH_ERR_TLS_HANDSHAKE', during.stderr);
    await fx.server.waitForLog(/tpm-agent: .*TLSSH_ERR_TPM_UNAVAILABLE/);
    await fx.serverTpm.restart();
    const r = await runTlssh(['-c', conf, 'localhost', 'echo back']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'back\n');
  });

  it('serves parallel logins whose client keys share one software TPM', async () => {
    // swtpm has three object slots and its TCTI reconnects for every command: unless tlssh takes
    // turns, a burst like this flushes or crowds out the other logins' keys.
    const conf = fx.clientConfig();
    const runs = await Promise.all(Array.from({ length: 30 }, (_, i) => runTlssh(['-c', conf, '-v', 'localhost', `echo p${i}`])));
    runs.forEach((r, i) => {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `p${i}\n`);
    });
  });
});
