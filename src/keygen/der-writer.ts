// A minimal DER encoder: just the universal types a PKCS#10 request needs. Every function
// returns a complete TLV, so structures are built by nesting calls; nothing is streamed.

import { TlsshError } from '../errors';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export function encodeLength(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new TlsshError('TLSSH_ERR_INTERNAL', `DER length out of range: ${n}`);
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(items));
}

/** DER SET OF: members sorted by their encodings, as X.690 §11.6 requires. */
export function setOf(...items: Buffer[]): Buffer {
  return tlv(TAG.SET, Buffer.concat([...items].sort(Buffer.compare)));
}

/** [n] IMPLICIT or EXPLICIT constructed context tag around already-encoded content. */
export function contextConstructed(n: number, content: Buffer): Buffer {
  if (n < 0 || n > 30) throw new TlsshError('TLSSH_ERR_INTERNAL', `context tag out of range: ${n}`);
  return tlv(0xa0 | n, content);
}

/** [n] IMPLICIT primitive context tag (GeneralName's dNSName, iPAddress, ...). */
export function contextPrimitive(n: number, content: Buffer): Buffer {
  if (n < 0 || n > 30) throw new TlsshError('TLSSH_ERR_INTERNAL', `context tag out of range: ${n}`);
  return tlv(0x80 | n, content);
}

/** INTEGER from a non-negative number or an unsigned big-endian magnitude. */
export function integer(value: number | bigint | Buffer): Buffer {
  let mag: Buffer;
  if (Buffer.isBuffer(value)) {
    mag = value;
  } else {
    let v = BigInt(value);
    if (v < 0n) throw new TlsshError('TLSSH_ERR_INTERNAL', 'negative DER integers are not supported');
    const bytes: number[] = [];
    do {
      bytes.unshift(Number(v & 0xffn));
      v >>= 8n;
    } while (v > 0n);
    mag = Buffer.from(bytes);
  }
  let i = 0;
  while (i < mag.length - 1 && mag[i] === 0) i++;
  mag = mag.subarray(i);
  if (mag.length === 0) mag = Buffer.from([0]);
  // A set top bit would read as negative: prepend a zero byte.
  if ((mag[0] as number) & 0x80) mag = Buffer.concat([Buffer.from([0]), mag]);
  return tlv(TAG.INTEGER, mag);
}

export function boolean(v: boolean): Buffer {
  return tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return Buffer.from([TAG.NULL, 0x00]);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.');
  if (parts.length < 2 || parts.some((p) => !/^(0|[1-9][0-9]*)$/.test(p))) {
    throw new TlsshError('TLSSH_ERR_INTERNAL', `bad OID: ${dotted}`);
  }
  const arcs = parts.map((p) => BigInt(p));
  const [a0, a1] = arcs as [bigint, bigint];
  if (a0 > 2n || (a0 < 2n && a1 > 39n)) throw new TlsshError('TLSSH_ERR_INTERNAL', `bad OID: ${dotted}`);
  const out: number[] = [];
  for (const arc of [a0 * 40n + a1, ...arcs.slice(2)]) {
    const base128: number[] = [];
    let v = arc;
    do {
      base128.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < base128.length - 1; i++) base128[i] = (base128[i] as number) | 0x80;
    out.push(...base128);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** BIT STRING whose content is whole bytes (no unused bits): keys and signatures. */
export function bitString(bytes: Buffer): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), bytes]));
}

/**
 * BIT STRING for a named-bit list such as KeyUsage: bit 0 is the most significant bit of the
 * first byte, and DER drops trailing zero bits and says how many bits of the last byte are unused.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(TAG.BIT_STRING, Buffer.from([0]));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)] = (bytes[Math.floor(b / 8)] as number) | (0x80 >> (b % 8));
  const unused = 7 - (highest % 8);
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unused]), bytes]));
}

export function octetString(bytes: Buffer): Buffer {
  return tlv(TAG.OCTET_STRING, bytes);
}

export function utf8String(s: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

export function isPrintableString(s: string): boolean {
  return PRINTABLE.test(s);
}

export function printableString(s: string): Buffer {
  if (!isPrintableString(s)) throw new TlsshError('TLSSH_ERR_USAGE', `not a PrintableString: ${JSON.stringify(s)}`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1'));
}

export function ia5String(s: string): Buffer {
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(s)) throw new TlsshError('TLSSH_ERR_USAGE', `not an ASCII (IA5) string: ${JSON.stringify(s)}`);
  return tlv(TAG.IA5_STRING, Buffer.from(s, 'latin1'));
}
