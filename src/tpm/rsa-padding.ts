// Signature encodings for tpmSignDigest on RSA keys, which the TPM sees only as a raw private
// operation (TPM2_RSA_Decrypt, null scheme). PKCS#1 v2.2 (RFC 8017) sections 9.1.1 and 9.2.
import * as crypto from 'node:crypto';

export type DigestName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export function hashForDigestLength(len: number): DigestName | undefined {
  switch (len) {
    case 20: return 'sha1';
    case 32: return 'sha256';
    case 48: return 'sha384';
    case 64: return 'sha512';
    default: return undefined;
  }
}

const DIGEST_INFO_PREFIX: Record<DigestName, string> = {
  sha1: '3021300906052b0e03021a05000414',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/** EMSA-PKCS1-v1_5 of an already computed digest, modulus-sized. */
export function pkcs1v15Encode(digest: Buffer, hash: DigestName, modulusBytes: number): Buffer {
  const t = Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash], 'hex'), digest]);
  if (modulusBytes < t.length + 11) throw new RangeError('modulus too short for PKCS#1 v1.5');
  const ps = Buffer.alloc(modulusBytes - t.length - 3, 0xff);
  return Buffer.concat([Buffer.from([0x00, 0x01]), ps, Buffer.from([0x00]), t]);
}

function mgf1(seed: Buffer, len: number, hash: DigestName): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (let counter = 0; total < len; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const h = crypto.createHash(hash).update(seed).update(c).digest();
    parts.push(h);
    total += h.length;
  }
  return Buffer.concat(parts).subarray(0, len);
}

/** EMSA-PSS of a digest, salt as long as the digest (what TLS 1.3 requires), modulus-sized. */
export function pssEncode(digest: Buffer, hash: DigestName, modulusBits: number): Buffer {
  const emBits = modulusBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = digest.length;
  const salt = crypto.randomBytes(hLen);
  if (emLen < hLen * 2 + 2) throw new RangeError('modulus too short for PSS');
  const h = crypto.createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([0x01]), salt]);
  const mask = mgf1(h, db.length, hash);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & (0xff >> (8 * emLen - emBits));
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  const modulusBytes = Math.ceil(modulusBits / 8);
  return em.length === modulusBytes ? em : Buffer.concat([Buffer.alloc(modulusBytes - em.length), em]);
}
