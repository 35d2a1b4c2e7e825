// On reload the listener re-reads ClientCAFile, ClientCAPath and ClientCRL and checks every live
// session's certificate against them: one now revoked, or no longer chaining to a trusted CA,
// ends its session.
//
// Why the listener and not the workers: the listener is root, has the new configuration, and
// holds what each worker reported of its certificates while it was still root (session-info is
// sent before the privilege drop, and only the first one counts). A worker runs as the user by
// then; asking it to judge itself would trust the party being judged. The listener only has to
// ask it to end, as tlsshctl kill does (and SIGTERM it if it cannot be asked).
//
// Node has no X509_STORE, so this is the part of OpenSSL's verification that can change while a
// session lives: issuer and signature links up to a trust anchor, and the CRLs of each issuer.
// Dates, key usage and the user mapping were checked at login and do not change with a reload
// (expiry has its own timer, CertificateExpiry).

import { X509Certificate } from 'node:crypto';
import type { ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import { certificateSubjectDer, crlSignedBy, parseCrl, serialKey, type CrlInfo } from '../transport/crl-info';
import { loadCaCertificates, loadCrls } from '../transport/pem-files';

export interface ClientTrust {
  cas: X509Certificate[];
  crls: CrlInfo[];
  /**
   * Whether a CRL's signature verifies with an issuer's key, by CRL index and issuer fingerprint:
   * one signature check per pair instead of one per session (most sessions share one issuer).
   */
  signedBy?: Map<string, boolean>;
}

/** Reads and parses the trust set; throws (TLSSH_ERR_TLS_CA / TLSSH_ERR_TLS_CRL) on anything unusable. */
export function loadClientTrust(cfg: Pick<ServerConfig, 'ClientCAFile' | 'ClientCAPath' | 'ClientCRL'>): ClientTrust {
  const cas = loadCaCertificates(cfg.ClientCAFile, cfg.ClientCAPath, 'ClientCAFile', 'ClientCAPath').map((pem) => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new TlsshError('TLSSH_ERR_TLS_CA', `${cfg.ClientCAFile || cfg.ClientCAPath}: a CA certificate cannot be parsed`, { cause: e });
    }
  });
  const crls = cfg.ClientCRL
    ? loadCrls(cfg.ClientCRL, 'ClientCRL', 'TLSSH_ERR_TLS_CRL').map((pem, i) => {
      try {
        return parseCrl(Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
      } catch (e) {
        throw new TlsshError('TLSSH_ERR_TLS_CRL', `ClientCRL ${cfg.ClientCRL}: CRL ${i + 1} cannot be parsed`, { cause: e });
      }
    })
    : [];
  return { cas, crls, signedBy: new Map() };
}

export type RecheckResult =
  | { ok: true }
  | { ok: false; code: 'TLSSH_ERR_CERT_REVOKED_IN_SESSION' | 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION'; why: string };

/** Deepest chain followed; OpenSSL's default is 100, real ones are 2 or 3 deep. */
const MAX_DEPTH = 10;

/**
 * Checks a reported chain (base64 DER, the client's certificate first) against `trust`. Only CAs
 * in `trust` are anchors; the other reported certificates serve as intermediates.
 */
export function recheckChain(chain: readonly string[], trust: ClientTrust): RecheckResult {
  let certs: X509Certificate[];
  try {
    certs = chain.map((b) => new X509Certificate(Buffer.from(b, 'base64')));
  } catch {
    return { ok: false, code: 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION', why: 'its reported certificate cannot be parsed' };
  }
  const [leaf, ...presented] = certs;
  if (!leaf) return { ok: false, code: 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION', why: 'no certificate reported' };
  const issuedBy = (c: X509Certificate, by: X509Certificate): boolean => {
    try {
      return c.checkIssued(by) && c.verify(by.publicKey);
    } catch {
      return false;
    }
  };
  let cur = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const anchor = trust.cas.find((ca) => issuedBy(cur, ca));
    const issuer = anchor ?? presented.find((p) => p !== cur && issuedBy(cur, p));
    if (!issuer) {
      return { ok: false, code: 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION', why: `certificate "${oneLine(cur.subject)}" no longer chains to ClientCAFile/ClientCAPath` };
    }
    if (isRevoked(cur, issuer, trust)) {
      return { ok: false, code: 'TLSSH_ERR_CERT_REVOKED_IN_SESSION', why: `certificate serial ${cur.serialNumber.toUpperCase()} ("${oneLine(cur.subject)}") is revoked by ClientCRL` };
    }
    if (anchor) return { ok: true };
    cur = issuer;
  }
  return { ok: false, code: 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION', why: `chain deeper than ${MAX_DEPTH}` };
}

/** On a CRL of `issuer` (same name, and its key signed the CRL where we can tell). */
function isRevoked(cert: X509Certificate, issuer: X509Certificate, trust: ClientTrust): boolean {
  const serial = serialKey(cert.serialNumber);
  if (!trust.crls.some((crl) => crl.revoked.has(serial))) return false;
  let issuerName: Buffer;
  try {
    issuerName = certificateSubjectDer(issuer.raw);
  } catch {
    return false;
  }
  return trust.crls.some((crl, i) => {
    if (!crl.issuerDer.equals(issuerName) || !crl.revoked.has(serial)) return false;
    const key = `${i} ${issuer.fingerprint256}`;
    let ok = trust.signedBy?.get(key);
    if (ok === undefined) {
      ok = crlSignedBy(crl, issuer.publicKey) !== false;
      trust.signedBy?.set(key, ok);
    }
    return ok;
  });
}

function oneLine(dn: string): string {
  return dn.replace(/\n/g, ', ');
}
