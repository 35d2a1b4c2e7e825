// tlssh logging in with a client key held in a (software) TPM: -E tpm, TpmTcti, a key without a
// password, and a key with one, given in the config or typed at the prompt on a real terminal.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { TLSSH, errorCodeOf, startFixture, type ClientFixture } from './client-fixture';
import { runWithoutTerminal, tpmClientConfig } from './client-tpm-fixture';
import { testHome } from '../helpers/test-home';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

describe('tlssh with a TPM key', () => {
  let fx: ClientFixture;
  let tpm: Swtpm;

  const tpmIdentity = (name: string, keyPassword?: string, extra: Record<string, string> = {}): Promise<string> =>
    tpmClientConfig(fx, tpm, name, keyPassword, extra);

  const run = runWithoutTerminal;

  before(async () => {
    fx = await startFixture();
    tpm = await startSwtpm();
  });
  after(async () => {
    await tpm?.stop();
    await fx?.stop();
  });

  it('logs in with -E tpm and a key without a password', async () => {
    const conf = await tpmIdentity('nopw');
    const r = await run(['-c', conf, '-E', 'tpm', 'localhost', 'echo tpm-ok']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'tpm-ok\n');
  });

  it('uses a TSS2 key file in the TPM without -E tpm, and says so at -v', async () => {
    const conf = await tpmIdentity('noengine');
    const r = await run(['-c', conf, '-v', 'localhost', 'echo no-e-ok']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'no-e-ok\n');
    assert.match(r.err, /^debug1: .*noengine\.tss2 is a TPM key: using it in the TPM$/m);
    assert.match(r.err, new RegExp(`^debug1: identity: key .*noengine\\.tss2 in the TPM \\(TCTI ${tpm.tcti.replace(/[.]/g, '\\.')}\\)$`, 'm'));
  });

  it('uses PrivkeyPassword from the config for a key with a password', async () => {
    const conf = await tpmIdentity('pw-config', 'tpm secret', { PrivkeyEngine: 'tpm', PrivkeyPassword: 'tpm secret' });
    const r = await run(['-c', conf, 'localhost', 'echo pw-ok']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'pw-ok\n');
  });

  it('asks for the TPM key password on the terminal when the config has none', async () => {
    const conf = await tpmIdentity('pw-prompt', 'typed secret', { PrivkeyEngine: 'tpm' });
    const p = nodePty.spawn(process.execPath, [TLSSH, '-c', conf, 'localhost', 'echo prompted-$((6*7))'], { name: 'xterm', cols: 80, rows: 24, env: { ...process.env, HOME: testHome() } as Record<string, string> });
    let out = '';
    p.onData((d) => {
      out += d;
    });
    const exit = new Promise<number>((resolve) => p.onExit((e) => resolve(e.exitCode)));
    const deadline = Date.now() + 20_000;
    while (!/Enter password for TPM key .*pw-prompt\.tss2: /.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(out, /Enter password for TPM key/);
    p.write('typed secret\r');
    assert.equal(await exit, 0, out);
    assert.match(out, /prompted-42/);
    assert.doesNotMatch(out, /typed secret/);
  });

  it('fails in one line with status 255 on a wrong TPM key password', async () => {
    const conf = await tpmIdentity('pw-wrong', 'right one', { PrivkeyEngine: 'tpm', PrivkeyPassword: 'wrong one' });
    const r = await run(['-c', conf, '-v', 'localhost', 'true']);
    assert.equal(r.code, 255);
    // The key's auth is checked only when the TPM signs, inside OpenSSL's handshake, which today
    // reports it as a handshake failure; TLSSH_ERR_TPM_AUTH is the better answer once the engine
    // passes the TPM's reason up.
    assert.ok(['TLSSH_ERR_TPM_AUTH', 'TLSSH_ERR_TLS_HANDSHAKE'].includes(errorCodeOf(r.err) ?? ''), r.err);
    assert.equal(r.err.split('\n').filter((l) => l.startsWith('tlssh: ')).length, 1, r.err);
  });
});
