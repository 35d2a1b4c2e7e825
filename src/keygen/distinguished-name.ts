// Subject names in OpenSSL's `-subj` syntax, "/CN=alice.example.com/O=Example", because that is
// what administrators already type for `openssl req`. "+" joins attributes into one
// multi-valued RDN and "\" escapes "/", "+", "=" and itself.

import { TlsshError } from '../errors';
import { ia5String, oid, printableString, sequence, setOf, utf8String } from './der-writer';

type StringKind = 'utf8' | 'printable' | 'ia5';

interface AttributeType {
  readonly oid: string;
  readonly shortName: string;
  readonly kind: StringKind;
  readonly maxLength?: number;
}

const ATTRIBUTE_TYPES: readonly (AttributeType & { readonly aliases: readonly string[] })[] = [
  { shortName: 'CN', oid: '2.5.4.3', kind: 'utf8', maxLength: 64, aliases: ['commonName'] },
  { shortName: 'C', oid: '2.5.4.6', kind: 'printable', maxLength: 2, aliases: ['countryName'] },
  { shortName: 'ST', oid: '2.5.4.8', kind: 'utf8', maxLength: 128, aliases: ['stateOrProvinceName', 'S'] },
  { shortName: 'L', oid: '2.5.4.7', kind: 'utf8', maxLength: 128, aliases: ['localityName'] },
  { shortName: 'O', oid: '2.5.4.10', kind: 'utf8', maxLength: 64, aliases: ['organizationName'] },
  { shortName: 'OU', oid: '2.5.4.11', kind: 'utf8', maxLength: 64, aliases: ['organizationalUnitName'] },
  { shortName: 'street', oid: '2.5.4.9', kind: 'utf8', maxLength: 128, aliases: ['streetAddress'] },
  { shortName: 'postalCode', oid: '2.5.4.17', kind: 'utf8', maxLength: 40, aliases: [] },
  { shortName: 'serialNumber', oid: '2.5.4.5', kind: 'printable', maxLength: 64, aliases: [] },
  { shortName: 'title', oid: '2.5.4.12', kind: 'utf8', maxLength: 64, aliases: [] },
  { shortName: 'SN', oid: '2.5.4.4', kind: 'utf8', maxLength: 64, aliases: ['surname'] },
  { shortName: 'GN', oid: '2.5.4.42', kind: 'utf8', maxLength: 64, aliases: ['givenName'] },
  { shortName: 'initials', oid: '2.5.4.43', kind: 'utf8', maxLength: 64, aliases: [] },
  { shortName: 'pseudonym', oid: '2.5.4.65', kind: 'utf8', maxLength: 128, aliases: [] },
  { shortName: 'name', oid: '2.5.4.41', kind: 'utf8', maxLength: 128, aliases: [] },
  { shortName: 'emailAddress', oid: '1.2.840.113549.1.9.1', kind: 'ia5', maxLength: 255, aliases: ['email'] },
  { shortName: 'DC', oid: '0.9.2342.19200300.100.1.25', kind: 'ia5', maxLength: 63, aliases: ['domainComponent'] },
  { shortName: 'UID', oid: '0.9.2342.19200300.100.1.1', kind: 'utf8', maxLength: 256, aliases: ['userId'] },
];

const BY_NAME = new Map<string, AttributeType>();
for (const t of ATTRIBUTE_TYPES) {
  for (const n of [t.shortName, ...t.aliases]) BY_NAME.set(n.toLowerCase(), t);
}

export interface NameAttribute {
  readonly type: AttributeType;
  readonly value: string;
}

/** RDNs in the order written (most significant first, as in `openssl req -subj`). */
export type DistinguishedName = readonly (readonly NameAttribute[])[];

function lookupType(name: string): AttributeType {
  const known = BY_NAME.get(name.toLowerCase());
  if (known) return known;
  if (/^[0-2](\.(0|[1-9][0-9]*))+$/.test(name)) return { oid: name, shortName: name, kind: 'utf8' };
  throw new TlsshError('TLSSH_ERR_USAGE', `unknown subject attribute "${name}" (use CN, O, OU, C, ST, L, emailAddress, DC, UID, ... or a dotted OID)`);
}

/** Split on an unescaped separator, keeping escapes for the next stage. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] as string);
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/gs, '$1');
}

export function parseSubject(text: string): DistinguishedName {
  if (!text.startsWith('/')) {
    throw new TlsshError('TLSSH_ERR_USAGE', `subject must be written as /type=value/..., e.g. "/CN=alice.example.com/O=Example"`);
  }
  if (text.endsWith('\\')) throw new TlsshError('TLSSH_ERR_USAGE', 'subject ends with a lone backslash');
  const rdns: NameAttribute[][] = [];
  const parts = splitUnescaped(text.slice(1), '/');
  // A trailing "/" is tolerated, as OpenSSL does.
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  for (const part of parts) {
    const rdn: NameAttribute[] = [];
    for (const av of splitUnescaped(part, '+')) {
      const eq = splitUnescaped(av, '=');
      if (eq.length < 2 || eq[0] === '') throw new TlsshError('TLSSH_ERR_USAGE', `subject part "${unescape(av)}" is not type=value`);
      const type = lookupType(unescape(eq[0] as string));
      // Only the first unescaped "=" separates: the rest belongs to the value.
      const value = unescape(eq.slice(1).join('='));
      if (value === '') throw new TlsshError('TLSSH_ERR_USAGE', `subject attribute ${type.shortName} has an empty value`);
      checkValue(type, value);
      rdn.push({ type, value });
    }
    rdns.push(rdn);
  }
  if (rdns.length === 0) throw new TlsshError('TLSSH_ERR_USAGE', 'subject is empty');
  return rdns;
}

function checkValue(type: AttributeType, value: string): void {
  if (type.maxLength !== undefined && [...value].length > type.maxLength) {
    throw new TlsshError('TLSSH_ERR_USAGE', `subject ${type.shortName} is longer than ${type.maxLength} characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw new TlsshError('TLSSH_ERR_USAGE', `subject ${type.shortName} contains a control character`);
  if (type.shortName === 'C' && !/^[A-Za-z]{2}$/.test(value)) {
    throw new TlsshError('TLSSH_ERR_USAGE', 'subject C must be a two-letter country code');
  }
  if (type.kind === 'printable') printableString(value);
  if (type.kind === 'ia5') ia5String(value);
}

function encodeValue(a: NameAttribute): Buffer {
  switch (a.type.kind) {
    case 'printable':
      return printableString(a.value);
    case 'ia5':
      return ia5String(a.value);
    case 'utf8':
      return utf8String(a.value);
  }
}

/** X.501 Name: SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue). */
export function encodeName(dn: DistinguishedName): Buffer {
  return sequence(...dn.map((rdn) => setOf(...rdn.map((a) => sequence(oid(a.type.oid), encodeValue(a))))));
}

/** "/CN=a/O=b", for messages; the inverse of parseSubject for printable values. */
export function formatSubject(dn: DistinguishedName): string {
  const esc = (s: string): string => s.replace(/[\\/+=]/g, (c) => `\\${c}`);
  return dn.map((rdn) => '/' + rdn.map((a) => `${a.type.shortName}=${esc(a.value)}`).join('+')).join('');
}

/** The first CN, which tlsshd maps to a user and tlssh checks no longer (SAN is what counts). */
export function commonName(dn: DistinguishedName): string | undefined {
  for (const rdn of dn) for (const a of rdn) if (a.type.oid === '2.5.4.3') return a.value;
  return undefined;
}
