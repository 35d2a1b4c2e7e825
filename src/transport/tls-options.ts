// TLS settings both programs build from their config: TLS 1.3 as the floor, mutual
// authentication always, and the private key either from a PEM file or inside the TPM.

import { X509Certificate, constants as cryptoConstants } from 'node:crypto';
import { createServer, createSecureContext, type ConnectionOptions, type DetailedPeerCertificate, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import type { CommonConfig, ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import { SERVER_ALPN } from '../protocol/alpn';
import { emptyDefaultTrust } from './default-trust';
import { loadCaCertificates, loadCrls, readConfiguredFile } from './pem-files';
import { EKU_CLIENT_AUTH, describeKeyUsage, identityOf, peerCertificate, purposeProblem, type PeerIdentity } from './peer-identity';
import { agentKeyOptions, tpmKeyOptions } from './tpm-key';

export const TLS_MIN_VERSION = 'TLSv1.3' as const;

export interface KeyMaterial {
  cert: Buffer;
  key?: Buffer;
  passphrase?: string;
  privateKeyEngine?: string;
  privateKeyIdentifier?: string;
}

export interface KeyOptions {
  /**
   * Server workers: sign through the listener's key agent, which holds the key (in the TPM, or
   * read from KeyFile), instead of opening the TPM or the key file. The key never reaches them.
   */
  agentSocket?: string;
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
  if (options.agentSocket !== undefined) return { cert, ...agentKeyOptions(cfg.KeyFile, cert, options.agentSocket) };
  if (cfg.PrivkeyEngine === 'tpm') return { cert, ...tpmKeyOptions(cfg) };
  const key = readConfiguredFile(cfg.KeyFile, 'KeyFile', 'TLSSH_ERR_TLS_KEY');
  if (key.includes('BEGIN TSS2 PRIVATE KEY')) {
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `KeyFile ${cfg.KeyFile} is a TPM key: use PrivkeyEngine tpm (tlssh -E tpm)`);
  }
  return cfg.PrivkeyPassword === undefined ? { cert, key } : { cert, key, passphrase: cfg.PrivkeyPassword };
}

/** What the server side's TLS set-up reads: a worker's config, which holds no secret, fits. */
export type ServerTlsConfig = KeyConfig & Pick<ServerConfig, 'ClientCAFile' | 'ClientCAPath' | 'ClientCRL'>;

/**
 * The server side's TLS set-up for one connection. The CRL is read once, here, and what was read
 * is what the handshake verifies against; when it cannot be read or parsed, `crlError` says why
 * and checkClientCertificate refuses every client with it, so a CRL problem never means "no
 * revocation check".
 */
export interface ServerTls {
  options: TlsOptions;
  crlError: TlsshError | undefined;
}

export function serverTlsOptions(cfg: ServerTlsConfig, options: KeyOptions = {}): ServerTls {
  emptyDefaultTrust();
  const opts: TlsOptions = {
    ...keyMaterial(cfg, options),
    minVersion: TLS_MIN_VERSION,
    ca: loadCaCertificates(cfg.ClientCAFile, cfg.ClientCAPath, 'ClientCAFile', 'ClientCAPath'),
    // The worker judges the verification result itself, so a refused client learns why
    // through an error frame instead of a bare TLS alert.
    requestCert: true,
    rejectUnauthorized: false,
    // No session tickets: a resumed session skips the client's certificate and signature, so a
    // ticket kept from one login would open the next without the key (or after the certificate
    // expired). Workers forked by one fork server share a ticket key; tickets would work there.
    // Stateful resumption needs node's session events, which tlsshd never handles.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
    // In the server's order (PROTOCOL.md section 2): tlssh/3 over tlssh/2, multiplexed first; a
    // client that offers only tlssh/2 gets tlssh/2.
    ALPNProtocols: [...SERVER_ALPN],
  };
  let crlError: TlsshError | undefined;
  if (cfg.ClientCRL) {
    try {
      opts.crl = loadCrls(cfg.ClientCRL, 'ClientCRL', 'TLSSH_ERR_CLIENT_CRL');
    } catch (e) {
      // Reported to the client by checkClientCertificate, instead of a handshake cut short.
      crlError = e instanceof TlsshError ? e : new TlsshError('TLSSH_ERR_CLIENT_CRL', `ClientCRL ${cfg.ClientCRL}: ${String(e)}`, { cause: e });
    }
  }
  return { options: opts, crlError };
}

/** True when OpenSSL can parse every CRL; used only to say why a context could not be built. */
export function crlsParse(crl: TlsOptions['crl']): boolean {
  emptyDefaultTrust();
  try {
    createSecureContext({ crl });
    return true;
  } catch {
    return false;
  }
}

/**
 * A tls.Server for the set-up; the CRL is parsed here, once. A CRL OpenSSL cannot parse is
 * recorded in `setup.crlError` (so every client is refused with it) and the server is built
 * without it; any other failure (key, certificate) is thrown.
 */
export function createTlsServer(setup: ServerTls): Server {
  try {
    return createServer(setup.options);
  } catch (e) {
    if (setup.options.crl === undefined || crlsParse(setup.options.crl)) throw e;
    setup.crlError = new TlsshError('TLSSH_ERR_CLIENT_CRL', 'ClientCRL: OpenSSL cannot parse the revocation list', { cause: e });
    const { crl: _unused, ...withoutCrl } = setup.options;
    setup.options = withoutCrl;
    return createServer(withoutCrl);
  }
}

/** Node's verification error names, sorted into the reasons we report. */
export const CRL_ERRORS: ReadonlySet<string> = new Set([
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
export function checkClientCertificate(socket: TLSSocket, setup: ServerTls): PeerIdentity {
  // Never a login, whatever the TLS layer allowed: the client proved nothing in this handshake.
  if (socket.isSessionReused()) throw new TlsshError('TLSSH_ERR_CLIENT_CERT_MISSING', 'a resumed TLS session is not a login: the client must present its certificate and key in a full handshake');
  const cert = peerCertificate(socket);
  if (!cert) throw new TlsshError('TLSSH_ERR_CLIENT_CERT_MISSING', 'no client certificate was presented');
  const peer = identityOf(cert);
  const fail = (code: ConstructorParameters<typeof TlsshError>[0], message: string, logDetail?: string): never => {
    throw Object.assign(new TlsshError(code, message), { peer, ...(logDetail ? { logDetail } : {}) });
  };
  // The CRL that was read for this connection could not be used: nobody logs in. Its path and
  // what is wrong with it are for the log, not for whoever connects.
  if (setup.crlError) {
    fail('TLSSH_ERR_CLIENT_CRL', 'the server cannot check certificates against its revocation list now; its log says why',
      `certificate revocation list unusable: ${setup.crlError.message}`);
  }
  if (!socket.authorized) {
    const why = verifyErrorCode(socket.authorizationError as Error | string | null);
    if (why === 'CERT_REVOKED') fail('TLSSH_ERR_CLIENT_CERT_REVOKED', 'client certificate has been revoked');
    // OpenSSL goes on checking after a chain that reaches no trusted CA and reports its last
    // error, which for a self-signed certificate is the CRL it could not find for an unknown issuer.
    if (CRL_ERRORS.has(why) && !reachesConfiguredCa(socket, setup)) fail('TLSSH_ERR_CLIENT_CERT_UNTRUSTED', 'client certificate not trusted: not issued by a configured CA');
    if (CRL_ERRORS.has(why)) fail('TLSSH_ERR_CLIENT_CRL', `client certificate revocation could not be checked: ${why}`);
    // OpenSSL says only "unsuitable purpose"; our own reading says which field is wrong.
    if (why === 'INVALID_PURPOSE') refusePurpose(peer, fail, 'eku');
    fail('TLSSH_ERR_CLIENT_CERT_UNTRUSTED', `client certificate not trusted: ${why || 'unknown reason'}`);
  }
  // OpenSSL accepts a CA certificate without keyUsage as a client; we never do, and this keeps
  // the other rules true whatever OpenSSL's defaults become.
  refusePurpose(peer, fail);
  return peer;
}

/** Whether the chain OpenSSL built for the peer ends at one of the CAs the server trusts. */
function reachesConfiguredCa(socket: TLSSocket, setup: ServerTls): boolean {
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  // The chain ends at a certificate that is its own issuer; a bound guards against a loop.
  for (let depth = 0; cert?.issuerCertificate && cert.issuerCertificate !== cert && depth < 16; depth++) cert = cert.issuerCertificate;
  const top = cert?.fingerprint256;
  if (!top) return false;
  const cas = Array.isArray(setup.options.ca) ? setup.options.ca : setup.options.ca ? [setup.options.ca] : [];
  return cas.some((pem) => {
    try {
      return new X509Certificate(pem).fingerprint256 === top;
    } catch {
      return false;
    }
  });
}

type Fail = (code: ConstructorParameters<typeof TlsshError>[0], message: string) => never;

/** Refuses a client certificate unfit for client authentication; `fallback` when none is found. */
function refusePurpose(peer: PeerIdentity, fail: Fail, fallback?: 'eku'): void {
  switch (purposeProblem(peer, EKU_CLIENT_AUTH) ?? fallback) {
    case 'unreadable':
      return fail('TLSSH_ERR_CLIENT_CERT_UNTRUSTED', `client ${peer.unreadable ?? 'certificate cannot be read'}`);
    case 'ca':
      return fail('TLSSH_ERR_CLIENT_CERT_CA', 'client certificate is a CA certificate (basicConstraints CA:TRUE), not a client certificate');
    case 'key-usage':
      return fail('TLSSH_ERR_CLIENT_KEY_USAGE', `client certificate keyUsage (${describeKeyUsage(peer)}) does not allow digitalSignature, which client authentication needs`);
    case 'eku':
      return fail('TLSSH_ERR_CLIENT_EKU', 'client certificate is not for client authentication (extendedKeyUsage)');
    case undefined:
      return;
  }
}

export type ClientTlsOptions = ConnectionOptions;
