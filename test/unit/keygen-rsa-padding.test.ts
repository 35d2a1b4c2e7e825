import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPairSync, privateEncrypt, sign } from 'node:crypto';
import { emsaPkcs1v15Sha256 } from '../../src/keygen/rsa-pkcs1-padding';

// The TPM does only the raw RSA private operation; node's privateEncrypt with no padding is the
// same operation, so padding + raw op must equal OpenSSL's own PKCS#1 v1.5 signature.
for (const bits of [2048, 3072]) {
  test(`EMSA-PKCS1-v1_5 block + raw private op = RSASSA-PKCS1-v1_5 (${bits} bits)`, () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const data = Buffer.from('certification request info');
    const block = emsaPkcs1v15Sha256(createHash('sha256').update(data).digest(), bits / 8);
    assert.equal(block.length, bits / 8);
    assert.equal(block.subarray(0, 2).toString('hex'), '0001');
    const raw = privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, block);
    assert.deepEqual(raw, sign('sha256', data, privateKey));
  });
}

test('wrong digest sizes and tiny moduli are refused', () => {
  assert.throws(() => emsaPkcs1v15Sha256(Buffer.alloc(20), 256), { code: 'TLSSH_ERR_INTERNAL' });
  assert.throws(() => emsaPkcs1v15Sha256(Buffer.alloc(32), 61), { code: 'TLSSH_ERR_INTERNAL' });
});
