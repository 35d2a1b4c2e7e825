// EMSA-PKCS1-v1_5 (RFC 8017 §9.2) for SHA-256. TPM RSA keys used by tlssh carry the null
// scheme, so the chip only does the raw private operation and the padding is made here.

import { TlsshError } from '../errors';

/** DER of DigestInfo { AlgorithmIdentifier sha256 NULL, OCTET STRING (32 bytes) } up to the hash. */
const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export function emsaPkcs1v15Sha256(digest: Buffer, modulusBytes: number): Buffer {
  if (digest.length !== 32) throw new TlsshError('TLSSH_ERR_INTERNAL', `SHA-256 digest must be 32 bytes, not ${digest.length}`);
  const t = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
  // At least 8 bytes of 0xff padding, as the RFC requires.
  if (modulusBytes < t.length + 11) throw new TlsshError('TLSSH_ERR_INTERNAL', `RSA modulus of ${modulusBytes} bytes is too short`);
  const em = Buffer.alloc(modulusBytes, 0xff);
  em[0] = 0x00;
  em[1] = 0x01;
  em[modulusBytes - t.length - 1] = 0x00;
  t.copy(em, modulusBytes - t.length);
  return em;
}
