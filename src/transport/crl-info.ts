// What a start-up check needs to know about a CRL that Node cannot tell it: when it was issued,
// when it expires, who issued it, and whether that issuer's key signed it. Node parses CRLs only
// inside OpenSSL, which reports an expired one as CRL_HAS_EXPIRED on every login instead.

import * as crypto from 'node:crypto';
import { DerError, readChildren, readDer, type DerNode } from '../tpm/der';

export interface CrlInfo {
  thisUpdate: Date;
  /** Undefined when the CRL gives none (then it never expires). */
  nextUpdate: Date | undefined;
  /** DER of the issuer Name, for comparison with a CA certificate's subject. */
  issuerDer: Buffer;
  /** DER of tbsCertList, the signed part. */
  tbsDer: Buffer;
  /** Dotted OID of the signature algorithm. */
  signatureAlgorithm: string;
  signature: Buffer;
  /** Serials of the revoked certificates, upper-case hex without leading zeros. */
  revoked: ReadonlySet<string>;
}

/** A serial as compared here and by tlsshctl: upper-case hex, no colons, no leading zeros. */
export function serialKey(hex: string): string {
  return hex.replace(/:/g, '').toUpperCase().replace(/^0+(?=.)/, '');
}

const TAG = { integer: 0x02, bitString: 0x03, oid: 0x06, sequence: 0x30, utcTime: 0x17, generalizedTime: 0x18 } as const;

function whole(buf: Buffer, node: DerNode, start: number): Buffer {
  return buf.subarray(start, node.end);
}

function decodeOid(body: Buffer): string {
  const out: number[] = [];
  const first = body[0] ?? 0;
  out.push(Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40);
  let v = 0;
  for (let i = 1; i < body.length; i++) {
    const b = body[i] as number;
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      out.push(v);
      v = 0;
    }
  }
  return out.join('.');
}

function decodeTime(node: DerNode): Date {
  const s = node.body.toString('latin1');
  let m: RegExpExecArray | null;
  if (node.tag === TAG.utcTime && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (node.tag === TAG.generalizedTime && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new DerError(`bad time ${JSON.stringify(s)}`);
}

/** Parses one DER CertificateList (RFC 5280 §5.1). Throws DerError on anything malformed. */
export function parseCrl(der: Buffer): CrlInfo {
  const top = readDer(der, 0);
  if (top.tag !== TAG.sequence || top.end !== der.length) throw new DerError('not a DER SEQUENCE');
  const [tbs, sigAlg, sig] = readChildren(top.body);
  if (!tbs || !sigAlg || !sig || tbs.tag !== TAG.sequence || sigAlg.tag !== TAG.sequence || sig.tag !== TAG.bitString) {
    throw new DerError('not a CertificateList');
  }
  const tbsStart = top.body.byteOffset - der.byteOffset;
  const tbsDer = der.subarray(tbsStart, tbsStart + tbs.end);
  const fields = readChildren(tbs.body);
  let i = 0;
  if (fields[i]?.tag === TAG.integer) i++;
  i++; // signature AlgorithmIdentifier
  const issuer = fields[i++];
  const thisUpdate = fields[i++];
  if (!issuer || issuer.tag !== TAG.sequence || !thisUpdate) throw new DerError('CRL without issuer or thisUpdate');
  const next = fields[i];
  const nextUpdate = next && (next.tag === TAG.utcTime || next.tag === TAG.generalizedTime) ? decodeTime(next) : undefined;
  // revokedCertificates, when present, is the SEQUENCE right after the dates.
  const listNode = fields[nextUpdate ? i + 1 : i];
  const revoked = new Set<string>();
  if (listNode && listNode.tag === TAG.sequence) {
    for (const entry of readChildren(listNode.body)) {
      const serial = entry.tag === TAG.sequence ? readChildren(entry.body)[0] : undefined;
      if (!serial || serial.tag !== TAG.integer) throw new DerError('CRL entry without a serial number');
      revoked.add(serialKey(serial.body.toString('hex')));
    }
  }
  // The issuer's whole TLV: start of its header within tbs.body.
  const issuerStart = fields.slice(0, i - 2).reduce((_, n) => n.end, 0);
  const oid = readChildren(sigAlg.body)[0];
  if (!oid || oid.tag !== TAG.oid) throw new DerError('CRL signature algorithm without OID');
  if (sig.body[0] !== 0) throw new DerError('CRL signature with unused bits');
  return {
    thisUpdate: decodeTime(thisUpdate),
    nextUpdate,
    issuerDer: whole(tbs.body, issuer, issuerStart),
    tbsDer,
    signatureAlgorithm: decodeOid(oid.body),
    signature: Buffer.from(sig.body.subarray(1)),
    revoked,
  };
}

/** DER of a certificate's subject Name (RFC 5280 §4.1). */
export function certificateSubjectDer(certDer: Buffer): Buffer {
  const top = readDer(certDer, 0);
  const tbs = readChildren(top.body)[0];
  if (!tbs) throw new DerError('not a certificate');
  const fields = readChildren(tbs.body);
  // [0] version is optional; then serial, signature, issuer, validity, subject.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[first + 4];
  if (!subject || subject.tag !== TAG.sequence) throw new DerError('certificate without subject');
  const start = first + 4 === 0 ? 0 : (fields[first + 3] as DerNode).end;
  return whole(tbs.body, subject, start);
}

const HASH_OF_SIGNATURE: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

/** True or false when the algorithm is one we can check; undefined for others (RSA-PSS, ...). */
export function crlSignedBy(crl: CrlInfo, issuerKey: crypto.KeyObject): boolean | undefined {
  if (!Object.prototype.hasOwnProperty.call(HASH_OF_SIGNATURE, crl.signatureAlgorithm)) return undefined;
  try {
    return crypto.verify(HASH_OF_SIGNATURE[crl.signatureAlgorithm] ?? null, crl.tbsDer, issuerKey, crl.signature);
  } catch {
    return false;
  }
}
