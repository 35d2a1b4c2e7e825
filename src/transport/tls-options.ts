// TLS settings both programs build from their config: TLS 1.3 as the floor, mutual
// authentication always, and the private key either from a PEM file or inside the TPM.

import type { ConnectionOptions, TlsOptions, TLSSocket } from 'node:tls';
import type { CommonConfig, ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import { ALPN_TLSSH2 } from '../protocol/messages';
import { loadCaCertificates, loadCrls, readConfiguredFile } from './pem-files';
import { EKU_CLIENT_AUTH, identityOf, peerCertificate, type PeerIdentity } from './peer-identity';
import { tpmKeyOptions } from './tpm-key';

export const TLS_MIN_VERSION = 'TLSv1.3' as const;

export interface KeyMaterial {
  cert: Buffer;
  key?: Buffer;
  passphrase?: string;
  privateKeyEngine?: string;
  privateKeyIdentifier?: string;
}

export interface KeyOptions {
  /** Server workers: sign through the listener's key agent instead of opening the TPM. */
  agentSocket?: string;
  /** Server workers: the PEM key the listener opened with PrivkeyPassword (the worker never gets the password). */
  openedKey?: string;
}

/**
 * The key fields of either side's config. The passwords are optional so that a server worker's
 * config, which never holds them, fits.
 */
export type KeyConfig = Pick<CommonConfig, 'CertFile' | 'KeyFile' | 'PrivkeyEngine' | 'TpmTcti'>
  & Partial<Pick<CommonConfig, 'PrivkeyPassword' | 'TpmSrkPassword'>>;

/** Certificate and private key (PEM file or TPM engine) for either side. */
export function keyMaterial(cfg: KeyConfig, options: KeyOptions = {}): KeyMaterial {
  const cert = readConfiguredFile(cfg.CertFile, 'CertFile', 'TLSSH_ERR_TLS_CERT_FILE');
  if (cfg.PrivkeyEngine === 'tpm') {
    return { cert, ...tpmKeyOptions(cfg, options.agentSocket) };
  }
  if (options.openedKey !== undefined) return { cert, key: Buffer.from(options.openedKey) };
  const key = readConfiguredFile(cfg.KeyFile, 'KeyFile', 'TLSSH_ERR_TLS_KEY');
  if (key.includes('BEGIN TSS2 PRIVATE KEY')) {
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `KeyFile ${cfg.KeyFile} is a TPM key: use PrivkeyEngine tpm (tlssh -E tpm)`);
  }
  return cfg.PrivkeyPassword === undefined ? { cert, key } : { cert, key, passphrase: cfg.PrivkeyPassword };
}

/** What the server side's TLS set-up reads: a worker's config, which holds no secret, fits. */
export type ServerTlsConfig = KeyConfig & Pick<ServerConfig, 'ClientCAFile' | 'ClientCAPath' | 'ClientCRL'>;

export function serverTlsOptions(cfg: ServerTlsConfig, options: KeyOptions = {}): TlsOptions {
  const opts: TlsOptions = {
    ...keyMaterial(cfg, options),
    minVersion: TLS_MIN_VERSION,
    ca: loadCaCertificates(cfg.ClientCAFile, cfg.ClientCAPath, 'ClientCAFile', 'ClientCAPath'),
    // The worker judges the verification result itself, so a refused client learns why
    // through an error frame instead of a bare TLS alert.
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: [ALPN_TLSSH2],
  };
  if (cfg.ClientCRL) {
    try {
      opts.crl = loadCrls(cfg.ClientCRL, 'ClientCRL', 'TLSSH_ERR_CLIENT_CRL');
    } catch {
      // Checked again, and reported to the client, in checkClientCertificate: a CRL that
      // cannot be read refuses every login instead of stopping the handshake without a word.
    }
  }
  return opts;
}

/** Node's verification error names, sorted into the reasons we report. */
const CRL_ERRORS = new Set([
  'UNABLE_TO_GET_CRL',
  'CRL_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_GET_CRL_ISSUER',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
]);

/** tls.Server reports the verification result as a string, a bare TLSSocket as an Error. */
export function verifyErrorCode(err: Error | string | null | undefined): string {
  if (!err) return '';
  if (typeof err === 'string') return err;
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

/**
 * Decides whether the client's certificate may log in at all (chain, CRL, EKU); mapping it to
 * a user comes after. Throws a TlsshError in the auth category; the identity is attached as
 * `peer` so refusals can be logged with subject, serial and fingerprint.
 */
export function checkClientCertificate(socket: TLSSocket, cfg: Pick<ServerConfig, 'ClientCRL'>): PeerIdentity {
  const cert = peerCertificate(socket);
  if (!cert) throw new TlsshError('TLSSH_ERR_CLIENT_CERT_MISSING', 'no client certificate was presented');
  const peer = identityOf(cert);
  const fail = (code: ConstructorParameters<typeof TlsshError>[0], message: string): never => {
    throw Object.assign(new TlsshError(code, message), { peer });
  };
  if (cfg.ClientCRL) {
    try {
      loadCrls(cfg.ClientCRL, 'ClientCRL', 'TLSSH_ERR_CLIENT_CRL');
    } catch (err) {
      fail('TLSSH_ERR_CLIENT_CRL', `certificate revocation list unusable: ${(err as Error).message}`);
    }
  }
  if (!socket.authorized) {
    const why = verifyErrorCode(socket.authorizationError as Error | string | null);
    if (why === 'CERT_REVOKED') fail('TLSSH_ERR_CLIENT_CERT_REVOKED', 'client certificate has been revoked');
    if (CRL_ERRORS.has(why)) fail('TLSSH_ERR_CLIENT_CRL', `client certificate revocation could not be checked: ${why}`);
    if (why === 'INVALID_PURPOSE') fail('TLSSH_ERR_CLIENT_EKU', 'client certificate is not for client authentication (extendedKeyUsage)');
    fail('TLSSH_ERR_CLIENT_CERT_UNTRUSTED', `client certificate not trusted: ${why || 'unknown reason'}`);
  }
  // OpenSSL already checks purpose; this keeps the rule true whatever OpenSSL's defaults become.
  if (peer.extKeyUsage && !peer.extKeyUsage.includes(EKU_CLIENT_AUTH)) {
    fail('TLSSH_ERR_CLIENT_EKU', 'client certificate is not for client authentication (extendedKeyUsage)');
  }
  return peer;
}

export type ClientTlsOptions = ConnectionOptions;
