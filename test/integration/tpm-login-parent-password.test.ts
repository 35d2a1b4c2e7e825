// A client TPM whose owner hierarchy has a password, so the key's parent needs TpmSrkPassword:
// taken from the config, asked on the terminal when the config has none, and refused in one
// line when there is no terminal to ask on.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { TLSSH, codeOf, ownLines, runTlssh, startTpmLogin, tpmIdentity, type TpmIdentity, type TpmLoginFixture } from './tpm-login-fixture';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

const OWNER_PASSWORD = 'owner secret';

describe('tlssh with a TPM parent that needs a password', () => {
  let fx: TpmLoginFixture;
  let tpm: Swtpm;
  let id: TpmIdentity;

  before(async () => {
    fx = await startTpmLogin();
    tpm = await startSwtpm();
    execFileSync('tpm2_changeauth', ['-c', 'owner', OWNER_PASSWORD], { env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti, TSS2_LOG: 'all+none' }, stdio: 'ignore' });
    id = tpmIdentity(fx.ca, tpm, fx.dir, 'client-owner-pw', { cn: fx.user }, { parentPassword: OWNER_PASSWORD });
  });
  after(async () => {
    await tpm?.stop();
    await fx?.stop();
  });

  it('uses TpmSrkPassword from the config', async () => {
    const r = await runTlssh(['-c', fx.clientConfig({ TpmTcti: tpm.tcti, TpmSrkPassword: OWNER_PASSWORD }, id), 'localhost', 'echo srk-ok']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'srk-ok\n');
  });

  it('refuses in one line without a terminal when the config has no TpmSrkPassword', async () => {
    const r = await runTlssh(['-c', fx.clientConfig({ TpmTcti: tpm.tcti }, id), '-v', 'localhost', 'true']);
    assert.equal(r.status, 255, r.stderr);
    assert.equal(codeOf(r.stderr), 'TLSSH_ERR_TPM_AUTH', r.stderr);
    assert.equal(ownLines(r.stderr).length, 1, r.stderr);
  });

  it('asks for the parent password on the terminal when the config has none', async () => {
    const conf = fx.clientConfig({ TpmTcti: tpm.tcti }, id);
    const p = nodePty.spawn(process.execPath, [TLSSH, '-c', conf, 'localhost', 'echo parent-$((6*7))'], {
      name: 'xterm', cols: 80, rows: 24, env: process.env as Record<string, string>,
    });
    let out = '';
    p.onData((d) => (out += d));
    const exit = new Promise<number>((resolve) => p.onExit((e) => resolve(e.exitCode)));
    for (let i = 0; i < 1000 && !/TpmSrkPassword\): $/.test(out); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(out, /Enter password for the TPM parent key of .*client-owner-pw\.tss2/);
    p.write(`${OWNER_PASSWORD}\r`);
    assert.equal(await exit, 0, out);
    assert.match(out, /parent-42/);
    assert.doesNotMatch(out, new RegExp(OWNER_PASSWORD));
  });
});
