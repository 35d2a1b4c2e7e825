// TSS2 response codes as the addon reports them -> TlsshError codes.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { tpmError, tpmResponseCode } from '../../src/tpm/tpm-errors';

function native(op: string, rc: number, errno = 0, tlsshCode?: string): Error {
  return Object.assign(new Error(`${op}: x`), { op, detail: 'x', rc, errno, ...(tlsshCode ? { tlsshCode } : {}) });
}

describe('TPM error classification', () => {
  it('strips layers and handle/session numbers from response codes', () => {
    assert.equal(tpmResponseCode(0x98e), 0x8e);
    assert.equal(tpmResponseCode(0x0b0000 | 0x98e), undefined);
    assert.equal(tpmResponseCode(0x921), 0x921);
  });

  const cases: Array<[string, Error, string]> = [
    ['auth failure on session 1', native('TPM2_Sign with k', 0x98e), 'TLSSH_ERR_TPM_AUTH'],
    ['bad auth (noDA key)', native('TPM2_Sign with k', 0x9a2), 'TLSSH_ERR_TPM_AUTH'],
    ['lockout', native('TPM2_Sign with k', 0x921), 'TLSSH_ERR_TPM_LOCKOUT'],
    ['integrity on load', native('TPM2_Load of k', 0x19f), 'TLSSH_ERR_TPM_WRONG_TPM'],
    ['missing persistent parent', native('TPM2_ReadPublic of parent 0x81000001 for k', 0x18b), 'TLSSH_ERR_TPM_WRONG_TPM'],
    ['scheme on sign', native('TPM2_Sign with k', 0x2d2), 'TLSSH_ERR_TPM_KEY_ATTRIBUTES'],
    ['TCTI I/O error', native('TPM2_Sign with k', 0xa000a), 'TLSSH_ERR_TPM_UNAVAILABLE'],
    ['connect failure', native('connecting to the TPM at device:/dev/tpmrm0', 0, 2), 'TLSSH_ERR_TPM_UNAVAILABLE'],
    ['permission', native('connecting to the TPM at device:/dev/tpmrm0', 0, 13), 'TLSSH_ERR_TPM_PERMISSION'],
    ['agent-classified', native('asking the TPM key agent at /run/x', 0, 0, 'TLSSH_ERR_TPM_LOCKOUT'), 'TLSSH_ERR_TPM_LOCKOUT'],
    ['other', native('TPM2_Sign with k', 0x101), 'TLSSH_ERR_TPM'],
  ];
  for (const [name, err, expected] of cases) {
    it(`${name} -> ${expected}`, () => {
      const e = tpmError(err, { keyFile: 'k', keyPasswordGiven: true });
      assert.equal(e.code, expected);
      assert.equal(e.cause, err);
    });
  }

  it('says a password is needed when none was given', () => {
    const e = tpmError(native('TPM2_Sign with k', 0x98e), { keyFile: 'k' });
    assert.equal(e.code, 'TLSSH_ERR_TPM_AUTH');
    assert.match(e.message, /needs a password/);
  });
});
