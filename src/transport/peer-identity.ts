// What we know about the certificate at the other end, for authorisation and for log lines.

import type { PeerCertificate, TLSSocket } from 'node:tls';
import { readCertFields, type KeyUsage } from './cert-fields';

export interface PeerIdentity {
  /** The subject as a one-line RFC 2253-ish string, for logs. */
  subject: string;
  /** Every CN of the subject, in order, read from the DER (not from Node's printed subject). */
  commonNames: string[];
  /** basicConstraints CA:TRUE. */
  isCa: boolean;
  /** keyUsage bits, or undefined when the extension is absent. */
  keyUsage: KeyUsage[] | undefined;
  /** Set when the certificate's fields could not be read; such a certificate is refused. */
  unreadable?: string;
  /** Serial number, upper-case hex. */
  serial: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint: string;
  /** Extended key usage OIDs, or undefined when the extension is absent. */
  extKeyUsage: string[] | undefined;
}

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

export function formatSubject(subject: PeerCertificate['subject']): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(subject ?? {})) {
    for (const v of asList(value as string | string[])) parts.push(`${key}=${v}`);
  }
  return parts.join(', ');
}

export function identityOf(cert: PeerCertificate): PeerIdentity {
  let fields: Pick<PeerIdentity, 'commonNames' | 'isCa' | 'keyUsage' | 'unreadable'>;
  try {
    fields = readCertFields(cert.raw);
  } catch (e) {
    // No name and every purpose check failing: nothing here can let it log in.
    fields = { commonNames: [], isCa: true, keyUsage: [], unreadable: e instanceof Error ? e.message : String(e) };
  }
  return {
    subject: formatSubject(cert.subject),
    ...fields,
    serial: (cert.serialNumber ?? '').toUpperCase(),
    fingerprint: cert.fingerprint256 ?? '',
    extKeyUsage: (cert as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage,
  };
}

/** The peer's certificate, or undefined when it sent none. */
export function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  return cert;
}

/** For log lines: who the peer claims to be, even when we are about to refuse it. */
export function describePeer(id: PeerIdentity): string {
  return `subject "${id.subject}" serial ${id.serial || '?'} fingerprint ${id.fingerprint || '?'}`;
}

/**
 * Why `id` may not authenticate a TLS 1.3 peer, or undefined. Both sides sign the handshake, so
 * a keyUsage extension must allow digitalSignature; the EKU, when present, must name `eku`.
 */
export function purposeProblem(id: PeerIdentity, eku: string): 'unreadable' | 'ca' | 'key-usage' | 'eku' | undefined {
  if (id.unreadable !== undefined) return 'unreadable';
  if (id.isCa) return 'ca';
  if (id.keyUsage && !id.keyUsage.includes('digitalSignature')) return 'key-usage';
  if (id.extKeyUsage && !id.extKeyUsage.includes(eku)) return 'eku';
  return undefined;
}

/** "keyCertSign, cRLSign", for messages. */
export function describeKeyUsage(id: PeerIdentity): string {
  return id.keyUsage && id.keyUsage.length > 0 ? id.keyUsage.join(', ') : 'nothing';
}
