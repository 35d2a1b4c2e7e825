// subjectAltName entries in OpenSSL's config syntax, "DNS:host,IP:192.0.2.1,email:a@b,URI:...",
// encoded as GeneralNames. tlssh checks server host names against the DNS and IP entries.

import { isIPv4, isIPv6 } from 'node:net';
import { TlsshError } from '../errors';
import { contextPrimitive, sequence } from './der-writer';

export type SanEntry =
  | { readonly kind: 'DNS'; readonly value: string }
  | { readonly kind: 'IP'; readonly value: string; readonly bytes: Buffer }
  | { readonly kind: 'email'; readonly value: string }
  | { readonly kind: 'URI'; readonly value: string };

const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function checkDnsName(name: string): void {
  const labels = name.replace(/\.$/, '').split('.');
  const ok =
    name.length <= 253 &&
    labels.every((l, i) => DNS_LABEL.test(l) || (i === 0 && l === '*' && labels.length > 2));
  if (!ok) throw new TlsshError('TLSSH_ERR_USAGE', `not a DNS name: ${JSON.stringify(name)}`);
}

export function ipv4Bytes(s: string): Buffer {
  return Buffer.from(s.split('.').map((p) => Number(p)));
}

export function ipv6Bytes(s: string): Buffer {
  // A dotted IPv4 tail ("::ffff:192.0.2.1") stands for the last two groups: rewrite it as hex.
  const text = s.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) => {
    const hex = (hi: string, lo: string): string => ((Number(hi) << 8) | Number(lo)).toString(16);
    return `${hex(a, b)}:${hex(c, d)}`;
  });
  const halves = text.split('::');
  const parse = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0] as string);
  const rest = halves.length > 1 ? parse(halves[1] as string) : [];
  const groups = halves.length > 1 ? [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest] : head;
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) {
    throw new TlsshError('TLSSH_ERR_USAGE', `not an IPv6 address: ${JSON.stringify(s)}`);
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function parseSan(text: string): SanEntry[] {
  const out: SanEntry[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const colon = item.indexOf(':');
    if (colon <= 0) throw new TlsshError('TLSSH_ERR_USAGE', `subjectAltName entry "${item}" is not TYPE:value (DNS:, IP:, email:, URI:)`);
    const kind = item.slice(0, colon).toLowerCase();
    const value = item.slice(colon + 1);
    if (value === '') throw new TlsshError('TLSSH_ERR_USAGE', `subjectAltName entry "${item}" has an empty value`);
    switch (kind) {
      case 'dns':
        checkDnsName(value);
        out.push({ kind: 'DNS', value });
        break;
      case 'ip': {
        const addr = value.replace(/^\[(.*)\]$/, '$1');
        if (isIPv4(addr)) out.push({ kind: 'IP', value: addr, bytes: ipv4Bytes(addr) });
        else if (isIPv6(addr) && !addr.includes('%')) out.push({ kind: 'IP', value: addr, bytes: ipv6Bytes(addr) });
        else throw new TlsshError('TLSSH_ERR_USAGE', `not an IP address: ${JSON.stringify(value)}`);
        break;
      }
      case 'email':
        if (!/^[\x21-\x7e]+@[\x21-\x7e]+$/.test(value)) throw new TlsshError('TLSSH_ERR_USAGE', `not an email address: ${JSON.stringify(value)}`);
        out.push({ kind: 'email', value });
        break;
      case 'uri':
        if (!/^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(value)) throw new TlsshError('TLSSH_ERR_USAGE', `not a URI: ${JSON.stringify(value)}`);
        out.push({ kind: 'URI', value });
        break;
      default:
        throw new TlsshError('TLSSH_ERR_USAGE', `unknown subjectAltName type "${item.slice(0, colon)}" (use DNS, IP, email or URI)`);
    }
  }
  return out;
}

/** GeneralNames ::= SEQUENCE OF GeneralName, with the implicit tags of RFC 5280 §4.2.1.6. */
export function encodeGeneralNames(entries: readonly SanEntry[]): Buffer {
  return sequence(
    ...entries.map((e) => {
      switch (e.kind) {
        case 'email':
          return contextPrimitive(1, Buffer.from(e.value, 'latin1'));
        case 'DNS':
          return contextPrimitive(2, Buffer.from(e.value, 'latin1'));
        case 'URI':
          return contextPrimitive(6, Buffer.from(e.value, 'latin1'));
        case 'IP':
          return contextPrimitive(7, e.bytes);
      }
    }),
  );
}

export function formatSan(entries: readonly SanEntry[]): string {
  return entries.map((e) => `${e.kind}:${e.value}`).join(',');
}
