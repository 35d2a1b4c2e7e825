// TPM2B_PUBLIC: reading the public area of a key file (to build a KeyObject and to refuse keys the
// engine cannot use, before any TPM is touched) and writing templates for TPM2_Create/Import.
// Layouts follow TPM 2.0 Library Part 2 (TPMT_PUBLIC and its parameter unions).
import * as crypto from 'node:crypto';

export const ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  AES: 0x0006,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDAA: 0x001a,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

export const ATTR = {
  fixedTPM: 0x00000002,
  fixedParent: 0x00000010,
  sensitiveDataOrigin: 0x00000020,
  userWithAuth: 0x00000040,
  adminWithPolicy: 0x00000080,
  noDA: 0x00000400,
  encryptedDuplication: 0x00000800,
  restricted: 0x00010000,
  decrypt: 0x00020000,
  sign: 0x00040000,
} as const;

export const CURVES = { 'P-256': 0x0003, 'P-384': 0x0004, 'P-521': 0x0005 } as const;
export type CurveName = keyof typeof CURVES;

const CURVE_BY_ID = new Map<number, CurveName>(
  (Object.entries(CURVES) as Array<[CurveName, number]>).map(([name, id]) => [id, name]),
);

interface PublicCommon {
  readonly nameAlg: number;
  readonly attributes: number;
  readonly authPolicy: Buffer;
  /** TPMT_SYM_DEF_OBJECT algorithm; ALG.NULL for ordinary (non-storage) keys. */
  readonly symmetric: number;
  /** The key's fixed scheme (ALG.NULL when the caller picks one per operation). */
  readonly scheme: number;
  readonly schemeHash: number;
}

export interface EccPublic extends PublicCommon {
  readonly type: 'ecc';
  readonly curve: CurveName;
  readonly curveId: number;
  readonly x: Buffer;
  readonly y: Buffer;
}

export interface RsaPublic extends PublicCommon {
  readonly type: 'rsa';
  readonly bits: number;
  /** 0 in the TPM means 65537; here always the real value. */
  readonly exponent: number;
  readonly modulus: Buffer;
}

export type TpmPublic = EccPublic | RsaPublic;

export class TpmPublicError extends Error {}

class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new TpmPublicError(`truncated at byte ${this.off}`);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  b2(): Buffer {
    const n = this.u16();
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return Buffer.from(v);
  }
  done(): boolean {
    return this.off === this.buf.length;
  }
}

function readSymmetric(r: Reader): number {
  const alg = r.u16();
  if (alg !== ALG.NULL) {
    r.u16(); // keyBits
    r.u16(); // mode
  }
  return alg;
}

/** Parses a marshalled TPM2B_PUBLIC (with its size prefix), as stored in key files. */
export function parseTpm2bPublic(buf: Buffer): TpmPublic {
  const outer = new Reader(buf);
  const inner = outer.b2();
  if (!outer.done()) throw new TpmPublicError('trailing bytes after TPM2B_PUBLIC');
  const r = new Reader(inner);
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  const authPolicy = r.b2();
  const symmetric = readSymmetric(r);
  const scheme = r.u16();
  let schemeHash: number = ALG.NULL;
  let result: TpmPublic;
  if (type === ALG.ECC) {
    if (scheme !== ALG.NULL) {
      schemeHash = r.u16();
      if (scheme === ALG.ECDAA) r.u16(); // count
    }
    const curveId = r.u16();
    const kdf = r.u16();
    if (kdf !== ALG.NULL) r.u16();
    const x = r.b2();
    const y = r.b2();
    const curve = CURVE_BY_ID.get(curveId);
    if (curve === undefined) throw new TpmPublicError(`unsupported ECC curve 0x${curveId.toString(16)}`);
    result = { type: 'ecc', nameAlg, attributes, authPolicy, symmetric, scheme, schemeHash, curve, curveId, x, y };
  } else if (type === ALG.RSA) {
    // RSAES has no hash in its details; every other RSA scheme carries one.
    if (scheme !== ALG.NULL && scheme !== ALG.RSAES) schemeHash = r.u16();
    const bits = r.u16();
    const exp = r.u32();
    const modulus = r.b2();
    result = {
      type: 'rsa', nameAlg, attributes, authPolicy, symmetric, scheme, schemeHash, bits,
      exponent: exp === 0 ? 65537 : exp, modulus,
    };
  } else {
    throw new TpmPublicError(`unsupported key type 0x${type.toString(16)} (only ECC and RSA keys can sign)`);
  }
  if (!r.done()) throw new TpmPublicError('trailing bytes inside TPMT_PUBLIC');
  return result;
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

function b2(v: Buffer): Buffer {
  return Buffer.concat([u16(v.length), v]);
}

export type PublicSpec =
  | { type: 'ecc'; curve: CurveName; attributes: number; x?: Buffer; y?: Buffer }
  | { type: 'rsa'; bits: number; attributes: number; exponent?: number; modulus?: Buffer };

/**
 * A TPM2B_PUBLIC for a signing key with a null scheme and name hash SHA-256. Empty unique fields
 * make a creation template; filled ones describe a key to import.
 */
export function marshalPublic(spec: PublicSpec): Buffer {
  const head = [u16(spec.type === 'ecc' ? ALG.ECC : ALG.RSA), u16(ALG.SHA256), u32(spec.attributes), b2(Buffer.alloc(0))];
  let rest: Buffer[];
  if (spec.type === 'ecc') {
    rest = [
      u16(ALG.NULL), // symmetric
      u16(ALG.NULL), // scheme
      u16(CURVES[spec.curve]),
      u16(ALG.NULL), // kdf
      b2(spec.x ?? Buffer.alloc(0)),
      b2(spec.y ?? Buffer.alloc(0)),
    ];
  } else {
    const e = spec.exponent === undefined || spec.exponent === 65537 ? 0 : spec.exponent;
    rest = [u16(ALG.NULL), u16(ALG.NULL), u16(spec.bits), u32(e), b2(spec.modulus ?? Buffer.alloc(0))];
  }
  return b2(Buffer.concat([...head, ...rest]));
}

/** TPM2B_SENSITIVE for TPM2_Import without wrappers: the key's secret in the clear. */
export function marshalSensitive(opts: { type: 'ecc' | 'rsa'; auth: Buffer; seed: Buffer; secret: Buffer }): Buffer {
  const body = Buffer.concat([
    u16(opts.type === 'ecc' ? ALG.ECC : ALG.RSA),
    b2(opts.auth),
    b2(opts.seed),
    b2(opts.secret),
  ]);
  return b2(body);
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

/** The public key as a Node KeyObject; needs no TPM. */
export function publicKeyObject(pub: TpmPublic): crypto.KeyObject {
  if (pub.type === 'ecc') {
    return crypto.createPublicKey({ key: { kty: 'EC', crv: pub.curve, x: b64url(pub.x), y: b64url(pub.y) }, format: 'jwk' });
  }
  let hex = pub.exponent.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const e = Buffer.from(hex, 'hex');
  return crypto.createPublicKey({ key: { kty: 'RSA', n: b64url(pub.modulus), e: b64url(e) }, format: 'jwk' });
}

/**
 * Why the engine cannot use this key, or undefined when it can. RSA keys are driven through
 * TPM2_RSA_Decrypt with the null scheme (OpenSSL pads, which is how RSA-PSS works), so they need
 * the decrypt attribute and no fixed scheme; ECC keys need the sign attribute.
 */
export function unusableReason(pub: TpmPublic): string | undefined {
  if (!(pub.attributes & ATTR.userWithAuth)) return 'the key has no userWithAuth attribute (policy-only keys are not supported)';
  if (pub.attributes & ATTR.restricted) return 'the key is restricted (a storage or attestation key cannot sign TLS handshakes)';
  if (pub.type === 'ecc') {
    if (!(pub.attributes & ATTR.sign)) return 'the ECC key lacks the sign attribute';
    if (pub.scheme !== ALG.NULL && pub.scheme !== ALG.ECDSA) return 'the ECC key has a fixed scheme other than ECDSA';
    return undefined;
  }
  if (!(pub.attributes & ATTR.decrypt))
    return 'the RSA key lacks the decrypt attribute, which raw RSA (needed for TLS 1.3 RSA-PSS) requires';
  if (pub.scheme !== ALG.NULL) return 'the RSA key has a fixed scheme; TLS 1.3 RSA-PSS needs a key made with the null scheme';
  return undefined;
}
