// The few X.509 fields the login decision rests on, read from the certificate's DER ourselves:
// Node reports neither keyUsage nor the subject's exact structure (its `subject` object is
// parsed back from a printed string), and the mapping must not depend on how a name prints.
// The certificate has passed OpenSSL's parser before we get here; anything this reader does not
// understand is still an error, never a default.

import { readChildren, readDer, type DerNode } from '../tpm/der';

export interface CertFields {
  /** Every subject commonName, in order, across all RDNs (multi-valued ones included). */
  commonNames: string[];
  /** basicConstraints cA. */
  isCa: boolean;
  /** keyUsage bit names, or undefined when the extension is absent. */
  keyUsage: KeyUsage[] | undefined;
}

export const KEY_USAGE_BITS = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement',
  'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

const OID_CN = '550403';
const OID_BASIC_CONSTRAINTS = '551d13';
const OID_KEY_USAGE = '551d0f';

const TAG = { boolean: 0x01, bitString: 0x03, octetString: 0x04, oid: 0x06, sequence: 0x30, set: 0x31 } as const;

export class CertFieldError extends Error {}

function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new CertFieldError(`certificate ${what} is malformed`);
  return node;
}

/** Reads the fields from a DER certificate; throws CertFieldError on anything unexpected. */
export function readCertFields(der: Buffer): CertFields {
  try {
    return read(der);
  } catch (e) {
    if (e instanceof CertFieldError) throw e;
    throw new CertFieldError(`certificate cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function read(der: Buffer): CertFields {
  const cert = expect(readDer(der, 0), TAG.sequence, 'structure');
  const tbs = expect(readChildren(cert.body)[0], TAG.sequence, 'body');
  const parts = readChildren(tbs.body);
  // version [0] is optional; then serial, signature, issuer, validity, subject, key.
  const base = parts[0]?.tag === 0xa0 ? 1 : 0;
  const subject = expect(parts[base + 4], TAG.sequence, 'subject');
  const fields: CertFields = { commonNames: commonNames(subject), isCa: false, keyUsage: undefined };
  const extWrapper = parts.slice(base + 6).find((p) => p.tag === 0xa3);
  if (!extWrapper) return fields;
  const seen = new Set<string>();
  for (const ext of readChildren(expect(readChildren(extWrapper.body)[0], TAG.sequence, 'extensions').body)) {
    const items = readChildren(expect(ext, TAG.sequence, 'extension').body);
    const oid = expect(items[0], TAG.oid, 'extension id').body.toString('hex');
    const value = expect(items[items.length - 1], TAG.octetString, 'extension value').body;
    if (seen.has(oid)) throw new CertFieldError('certificate repeats an extension');
    seen.add(oid);
    if (oid === OID_BASIC_CONSTRAINTS) fields.isCa = basicConstraintsCa(value);
    else if (oid === OID_KEY_USAGE) fields.keyUsage = keyUsage(value);
  }
  return fields;
}

function commonNames(subject: DerNode): string[] {
  const out: string[] = [];
  for (const rdn of readChildren(subject.body)) {
    for (const atv of readChildren(expect(rdn, TAG.set, 'subject').body)) {
      const [type, value] = readChildren(expect(atv, TAG.sequence, 'subject').body);
      if (expect(type, TAG.oid, 'subject').body.toString('hex') !== OID_CN) continue;
      if (!value) throw new CertFieldError('certificate subject is malformed');
      out.push(directoryString(value));
    }
  }
  return out;
}

/** The string types a CN may use; others (T61, Universal) come out as "" and so name nobody. */
function directoryString(v: DerNode): string {
  switch (v.tag) {
    case 0x0c: // UTF8String
      return v.body.toString('utf8');
    case 0x13: // PrintableString
    case 0x16: // IA5String
      return v.body.toString('latin1');
    case 0x1e: { // BMPString, UTF-16BE
      const le = Buffer.from(v.body);
      le.swap16();
      return le.toString('utf16le');
    }
    default:
      return '';
  }
}

function basicConstraintsCa(value: Buffer): boolean {
  const seq = expect(readDer(value, 0), TAG.sequence, 'basicConstraints');
  const first = readChildren(seq.body)[0];
  return first?.tag === TAG.boolean && first.body.length === 1 && first.body[0] !== 0;
}

function keyUsage(value: Buffer): KeyUsage[] {
  const bits = expect(readDer(value, 0), TAG.bitString, 'keyUsage');
  if (bits.body.length < 1) throw new CertFieldError('certificate keyUsage is malformed');
  const out: KeyUsage[] = [];
  KEY_USAGE_BITS.forEach((name, i) => {
    const byte = bits.body[1 + (i >> 3)];
    if (byte !== undefined && (byte & (0x80 >> (i & 7))) !== 0) out.push(name);
  });
  return out;
}
