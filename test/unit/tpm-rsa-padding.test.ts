// The RSA encodings used for tpmSignDigest, checked against Node's verifier with a file key doing
// the raw private operation the TPM would do.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { pkcs1v15Encode, pssEncode, type DigestName } from '../../src/tpm/rsa-padding';

describe('RSA signature encodings', () => {
  for (const bits of [2048, 3072]) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: bits });
    for (const hash of ['sha256', 'sha384'] as DigestName[]) {
      it(`PSS and PKCS#1 v1.5, ${bits} bits, ${hash}`, () => {
        const data = crypto.randomBytes(50);
        const digest = crypto.createHash(hash).update(data).digest();
        const raw = (block: Buffer) => crypto.privateEncrypt({ key: privateKey, padding: crypto.constants.RSA_NO_PADDING }, block);
        const pss = raw(pssEncode(digest, hash, bits));
        assert.ok(crypto.verify(hash, data, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length }, pss));
        const v15 = raw(pkcs1v15Encode(digest, hash, bits / 8));
        assert.ok(crypto.verify(hash, data, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, v15));
        assert.ok(!crypto.verify(hash, Buffer.from('other'), { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, v15));
      });
    }
  }
});
