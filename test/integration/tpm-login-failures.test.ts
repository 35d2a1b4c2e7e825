// How bin/tlssh fails with a TPM key, against a real bin/tlsshd that also signs in a TPM: each
// failure is one line with its own code and exit status 255, in the TPM's words rather than
// OpenSSL's ("EVP lib"), and never a stack trace.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSwtpm } from '../helpers/swtpm';
import { codeOf, ownLines, runTlssh, startTpmLogin, tpmIdentity, type Run, type TpmLoginFixture } from './tpm-login-fixture';

function assertOneLineFailure(r: Run, code: string): string {
  assert.equal(r.status, 255, r.stderr);
  assert.equal(codeOf(r.stderr), code, r.stderr);
  const lines = ownLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(lines.join('\n'), /EVP lib|error:[0-9A-F]{8}:/, 'no OpenSSL error queue');
  return lines[0] ?? '';
}

describe('tlssh failures with a TPM key', () => {
  let fx: TpmLoginFixture;

  before(async () => {
    fx = await startTpmLogin();
  });
  after(async () => {
    await fx?.stop();
  });

  it('names the TPM and its TCTI when the client TPM is stopped', async () => {
    const tpm = await startSwtpm();
    const tcti = tpm.tcti;
    const id = tpmIdentity(fx.ca, tpm, fx.dir, 'client-stopped', { cn: fx.user });
    await tpm.stop();
    const r = await runTlssh(['-c', fx.clientConfig({ TpmTcti: tcti }, id), '-v', 'localhost', 'true']);
    const line = assertOneLineFailure(r, 'TLSSH_ERR_TPM_UNAVAILABLE');
    assert.ok(line.includes(tcti), line);
  });

  it('says the key belongs to another TPM when used with a fresh one', async () => {
    const fresh = await startSwtpm();
    try {
      const r = await runTlssh(['-c', fx.clientConfig({ TpmTcti: fresh.tcti }), '-v', 'localhost', 'true']);
      assertOneLineFailure(r, 'TLSSH_ERR_TPM_WRONG_TPM');
    } finally {
      await fresh.stop();
    }
  });

  it('reports a wrong key password as the TPM\'s refusal, warning of lockout', async () => {
    const id = tpmIdentity(fx.ca, fx.clientTpm, fx.dir, 'client-pw', { cn: fx.user }, { password: 'right password' });
    const wrong = await runTlssh(['-c', fx.clientConfig({ PrivkeyPassword: 'wrong password' }, id), '-v', 'localhost', 'true']);
    const line = assertOneLineFailure(wrong, 'TLSSH_ERR_TPM_AUTH');
    assert.match(line, /lock/i);
    const right = await runTlssh(['-c', fx.clientConfig({ PrivkeyPassword: 'right password' }, id), 'localhost', 'echo pw-ok']);
    assert.equal(right.status, 0, right.stderr);
    assert.equal(right.stdout, 'pw-ok\n');
  });

  it('refuses clearly when the key needs a password and there is no terminal to ask', async () => {
    const id = tpmIdentity(fx.ca, fx.clientTpm, fx.dir, 'client-pw-notty', { cn: fx.user }, { password: 'secret' });
    const r = await runTlssh(['-c', fx.clientConfig({}, id), '-v', 'localhost', 'true']);
    assertOneLineFailure(r, 'TLSSH_ERR_TTY');
  });

  for (const [name, damage] of [
    ['truncated', (pem: Buffer) => pem.subarray(0, Math.floor(pem.length / 2))],
    ['garbage', () => Buffer.from('this is not a key\n')],
    ['corrupted base64', (pem: Buffer) => Buffer.from(pem.toString().replace(/^(-----BEGIN[^\n]*\n)(.{20})/, '$1AAAAAAAAAAAAAAAAAAAA'))],
  ] as const) {
    it(`names the key file when it is ${name}`, async () => {
      const keyFile = path.join(fx.dir, `damaged-${name.replace(/ /g, '-')}.tss2`);
      fs.writeFileSync(keyFile, damage(fs.readFileSync(fx.clientKey.keyFile)), { mode: 0o600 });
      const r = await runTlssh(['-c', fx.clientConfig({}, { keyFile, certFile: fx.clientKey.certFile }), '-v', 'localhost', 'true']);
      assert.equal(r.status, 255, r.stderr);
      const line = ownLines(r.stderr)[0] ?? '';
      assert.ok(line.includes(keyFile), r.stderr);
      assert.equal(ownLines(r.stderr).length, 1, r.stderr);
      assert.ok(['TLSSH_ERR_TPM_KEY_FILE', 'TLSSH_ERR_TPM_WRONG_TPM'].includes(codeOf(r.stderr) ?? ''), r.stderr);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.doesNotMatch(line, /EVP lib|error:[0-9A-F]{8}:/);
    });
  }

  it('uses a TPM key file given without -E tpm in the TPM', async () => {
    const r = await runTlssh(['-c', fx.clientConfig({ PrivkeyEngine: '' }), '-v', 'localhost', 'true']);
    assert.equal(r.status, 0, r.stderr);
  });
});
