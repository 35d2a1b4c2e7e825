// The extensions a tlssh certificate request asks for. The CA decides what it copies
// (`openssl x509 -req -copy_extensions copy`, or `copy_extensions = copy` for `openssl ca`).

import { boolean, namedBits, octetString, oid, sequence } from './der-writer';
import { encodeGeneralNames, type SanEntry } from './subject-alt-name';

export const OID = {
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsaEncryption: '1.2.840.113549.1.1.11',
} as const;

export type Purpose = 'client' | 'server';

export interface ExtensionRequest {
  readonly san: readonly SanEntry[];
  readonly purposes: readonly Purpose[];
}

/** KeyUsage bit numbers from RFC 5280 §4.2.1.3. */
const DIGITAL_SIGNATURE = 0;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** The members of Extensions ::= SEQUENCE OF Extension. */
export function encodeExtensions(req: ExtensionRequest): Buffer[] {
  const exts: Buffer[] = [];
  if (req.san.length > 0) exts.push(extension(OID.subjectAltName, false, encodeGeneralNames(req.san)));
  // TLS 1.3 keys only ever sign (ECDHE does the key exchange), so digitalSignature is the one
  // usage needed, for RSA as for ECDSA.
  exts.push(extension(OID.keyUsage, true, namedBits([DIGITAL_SIGNATURE])));
  if (req.purposes.length > 0) {
    const ekus = [...new Set(req.purposes)].map((p) => oid(p === 'server' ? OID.serverAuth : OID.clientAuth));
    exts.push(extension(OID.extendedKeyUsage, false, sequence(...ekus)));
  }
  return exts;
}
