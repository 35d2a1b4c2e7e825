// Client side of the transport: TCP connect and the TLS 1.3 handshake, bounded by
// ConnectTimeout, with the server's chain, name and purpose checked before any byte of the
// session is sent.

import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { ClientConfig } from '../config/types';
import { TlsshError, isTlsshError } from '../errors';
import { DIRECT_ALPN } from '../protocol/alpn';
import { ALPN_TLSSH2 } from '../protocol/messages';
import { emptyDefaultTrust } from './default-trust';
import { loadCaCertificates, loadCrls } from './pem-files';
import { EKU_SERVER_AUTH, describeKeyUsage, identityOf, peerCertificate, type PeerIdentity } from './peer-identity';
import { CRL_ERRORS, TLS_MIN_VERSION, crlsParse, keyMaterial, verifyErrorCode } from './tls-options';

export interface ConnectOptions {
  /** The host as typed: what the server certificate must name. */
  host: string;
  port: number;
  family?: 0 | 4 | 6;
  debug?: (line: string) => void;
  /** -vvv: the whole chain the server sent. */
  debug3?: ((line: string) => void) | undefined;
  /**
   * ALPN identifiers to offer, preferred first (default: tlssh/3, then tlssh/2). A connection
   * master offers the multiplexed ones first (doc/PROTOCOL.md section 12.1); socket.alpnProtocol
   * says which the server chose.
   */
  alpn?: readonly string[];
}

/**
 * The client's key and certificate. A first run has neither, at the default place: that says
 * where they come from rather than only that a file is missing.
 */
function clientKeyMaterial(cfg: ClientConfig): ReturnType<typeof keyMaterial> {
  try {
    return keyMaterial(cfg);
  } catch (e) {
    const unset = (cfg.origin['CertFile'] ?? 'default') === 'default' && (cfg.origin['KeyFile'] ?? 'default') === 'default';
    if (unset && isTlsshError(e) && e.code === 'TLSSH_ERR_TLS_CERT_FILE' && !fs.existsSync(cfg.CertFile)) {
      throw new TlsshError('TLSSH_ERR_TLS_CERT_FILE', `${e.message}: no key and certificate yet? tlssh-keygen makes the key and a request for your CA to sign, whose certificate goes there (tlssh-keygen(1), or the README's walkthrough)`, { cause: e });
    }
    throw e;
  }
}

export function clientTlsOptions(cfg: ClientConfig, alpn: readonly string[] = DIRECT_ALPN): tls.ConnectionOptions {
  emptyDefaultTrust();
  const opts: tls.ConnectionOptions = {
    ...clientKeyMaterial(cfg),
    minVersion: TLS_MIN_VERSION,
    ca: loadCaCertificates(cfg.ServerCAFile, cfg.ServerCAPath, 'ServerCAFile', 'ServerCAPath'),
    ALPNProtocols: [...alpn],
    // Judged in checkServer() so that the user is told exactly what was wrong.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  };
  // Read once, here; a CRL that cannot be read is an error for this connection, never a
  // connection without revocation checks. OpenSSL parses it once, in tls.connect (openTls).
  if (cfg.ServerCRL) opts.crl = loadCrls(cfg.ServerCRL, 'ServerCRL', 'TLSSH_ERR_TLS_CRL');
  return opts;
}

function familyOf(cfg: ClientConfig, family: 0 | 4 | 6 | undefined): 0 | 4 | 6 {
  if (family) return family;
  if (cfg.AddressFamily === 'inet') return 4;
  if (cfg.AddressFamily === 'inet6') return 6;
  return 0;
}

type SslError = NodeJS.ErrnoException & { library?: string; reason?: string };

function connectError(err: SslError, host: string, port: number, bindAddress = ''): TlsshError {
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new TlsshError('TLSSH_ERR_RESOLVE', `Could not resolve hostname ${host}: Name or service not known`, { cause: err });
    case 'ECONNREFUSED':
      return new TlsshError('TLSSH_ERR_CONNECT', `connect to host ${host} port ${port}: Connection refused`, { cause: err });
    case 'ETIMEDOUT':
      return new TlsshError('TLSSH_ERR_CONNECT_TIMEOUT', `connect to host ${host} port ${port}: Connection timed out`, { cause: err });
    case 'EADDRNOTAVAIL':
      return new TlsshError('TLSSH_ERR_CONNECT', `bind to ${bindAddress || 'the local address'}: Cannot assign requested address (BindAddress)`, { cause: err });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TlsshError('TLSSH_ERR_CONNECT', `connect to host ${host} port ${port}: No route to host`, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      // What tlsshd does to a connection it will not take: too many unauthenticated ones
      // (MaxStartups), from this source (PerSourceMaxStartups), or a source it penalises.
      return new TlsshError('TLSSH_ERR_TLS_HANDSHAKE', `connection to ${host} port ${port} closed during the TLS handshake; the server may be refusing connections from this address for now (MaxStartups, PerSourceMaxStartups or PerSourcePenalties), and its log says why`, { cause: err });
    default:
      if (err.code?.startsWith('ERR_SSL') || err.library === 'SSL routines') {
        const reason = err.reason ?? err.message;
        // Before it has authenticated, a server can only send an alert; internal_error is what
        // it sends when its own key fails (a TPM that stopped answering, say). Its log has the why.
        const hint = /alert internal error/i.test(reason) ? ' (the server could not complete the handshake; its log says why)' : '';
        return new TlsshError('TLSSH_ERR_TLS_HANDSHAKE', `TLS handshake with ${host} failed: ${reason}${hint}`, { cause: err });
      }
      return new TlsshError('TLSSH_ERR_CONNECT', `connect to host ${host} port ${port}: ${err.message}`, { cause: err });
  }
}

const EXPIRY_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** OpenSSL's verification codes for an unknown CA, in words. */
const UNTRUSTED_WORDS: Readonly<Record<string, string>> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a CA that is not trusted here',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is not a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is not a trusted CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is not a trusted CA',
  CERT_SIGNATURE_FAILURE: 'its signature does not verify',
};

/** The CA files and directories a config makes tlssh trust, for "not trusted" messages. */
function trustedCaText(cfg: Pick<ClientConfig, 'ServerCAFile' | 'ServerCAPath'> | undefined): string {
  if (!cfg) return '';
  const tried = [cfg.ServerCAFile ? `ServerCAFile ${cfg.ServerCAFile}` : '', cfg.ServerCAPath ? `ServerCAPath ${cfg.ServerCAPath}` : ''].filter((t) => t !== '');
  return tried.length === 0 ? '' : `; the trusted CAs come from ${tried.join(' and ')} (add the server's CA there, or check that this is the right server)`;
}

/** Which certificate in the chain failed and when it is valid, from the chain the server sent. */
function expiryText(socket: tls.TLSSocket, why: string): string {
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate;
  const now = Date.now();
  const seen = new Set<string>();
  while (cert && cert.fingerprint256 && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const from = Date.parse(cert.valid_from);
    const to = Date.parse(cert.valid_to);
    const who = seen.size === 1 ? 'the server certificate' : `CA certificate "${formatSubjectLine(cert.subject)}"`;
    if (why === 'CERT_HAS_EXPIRED' && to < now) return `${who} expired on ${new Date(to).toISOString()}`;
    if (why === 'CERT_NOT_YET_VALID' && from > now) return `${who} is not valid before ${new Date(from).toISOString()}`;
    cert = cert.issuerCertificate;
  }
  return why === 'CERT_HAS_EXPIRED' ? 'a certificate in its chain has expired' : 'a certificate in its chain is not yet valid';
}

function formatSubjectLine(subject: tls.PeerCertificate['subject'] | undefined): string {
  return subject ? Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ') : '?';
}

/** Throws unless the server's certificate chains to our CA, names `host`, and may serve. */
export function checkServer(socket: tls.TLSSocket, host: string, cfg?: Pick<ClientConfig, 'ServerCAFile' | 'ServerCAPath'>, alpn: readonly string[] = DIRECT_ALPN): void {
  const cert = peerCertificate(socket);
  if (!cert) throw new TlsshError('TLSSH_ERR_SERVER_CERT_UNTRUSTED', `server ${host} presented no certificate`);
  const id = identityOf(cert);
  if (!socket.authorized) {
    const why = verifyErrorCode(socket.authorizationError as Error | string | null);
    if (why === 'INVALID_PURPOSE') {
      if (lacksDigitalSignature(id)) throw keyUsageError(id, host);
      throw new TlsshError('TLSSH_ERR_SERVER_EKU', `server certificate of ${host} is not for server authentication (extendedKeyUsage)`);
    }
    if (why === 'CERT_REVOKED') throw new TlsshError('TLSSH_ERR_SERVER_CERT_REVOKED', `server certificate of ${host} has been revoked (ServerCRL)`);
    if (CRL_ERRORS.has(why)) throw new TlsshError('TLSSH_ERR_TLS_CRL', `revocation of the server certificate of ${host} could not be checked: ${why}`);
    if (EXPIRY_ERRORS.has(why)) {
      throw new TlsshError('TLSSH_ERR_SERVER_CERT_EXPIRED', `server certificate of ${host} not trusted: ${expiryText(socket, why)} (check the server's certificate, or this machine's clock)`);
    }
    throw new TlsshError(
      'TLSSH_ERR_SERVER_CERT_UNTRUSTED',
      `server certificate of ${host} not trusted: ${UNTRUSTED_WORDS[why] ?? why}; it was issued by "${formatSubjectLine(cert.issuer)}"${trustedCaText(cfg)}`,
    );
  }
  if (id.unreadable !== undefined) throw new TlsshError('TLSSH_ERR_SERVER_CERT_UNTRUSTED', `server ${id.unreadable}`);
  // The server signs the TLS 1.3 handshake: a keyUsage that forbids it is refused whatever OpenSSL's defaults.
  if (lacksDigitalSignature(id)) throw keyUsageError(id, host);
  if (id.extKeyUsage && !id.extKeyUsage.includes(EKU_SERVER_AUTH)) {
    throw new TlsshError('TLSSH_ERR_SERVER_EKU', `server certificate of ${host} is not for server authentication (extendedKeyUsage)`);
  }
  const mismatch = tls.checkServerIdentity(host, cert);
  if (mismatch) {
    const names = cert.subjectaltname ? cert.subjectaltname : `CN=${id.commonNames.join(',')} and no subjectAltName`;
    throw new TlsshError('TLSSH_ERR_SERVER_NAME_MISMATCH', `server certificate does not match host "${host}": it is for ${names}`);
  }
  if (typeof socket.alpnProtocol !== 'string' || !alpn.includes(socket.alpnProtocol)) {
    throw new TlsshError('TLSSH_ERR_ALPN', `server ${host} does not speak ${ALPN_TLSSH2}`);
  }
}

function lacksDigitalSignature(id: PeerIdentity): boolean {
  return id.keyUsage !== undefined && !id.keyUsage.includes('digitalSignature');
}

function keyUsageError(id: PeerIdentity, host: string): TlsshError {
  return new TlsshError('TLSSH_ERR_SERVER_KEY_USAGE', `server certificate of ${host} has keyUsage (${describeKeyUsage(id)}) without digitalSignature, which a TLS 1.3 server needs`);
}

/** Wraps key-loading failures inside tls.connect, which OpenSSL reports in its own words. */
function openTls(options: tls.ConnectionOptions, cfg: ClientConfig): tls.TLSSocket {
  try {
    return tls.connect(options);
  } catch (err) {
    // Only on failure: was it the CRL rather than the key? Never a reason to go on without it.
    if (options.crl !== undefined && !crlsParse(options.crl)) {
      throw new TlsshError('TLSSH_ERR_TLS_CRL', `ServerCRL ${cfg.ServerCRL}: OpenSSL cannot parse the revocation list`, { cause: err });
    }
    const reason = (err as NodeJS.ErrnoException & { reason?: string }).reason ?? (err as Error).message;
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `cannot use CertFile ${cfg.CertFile} with KeyFile ${cfg.KeyFile}: ${reason}`, { cause: err });
  }
}

export async function connectTls(cfg: ClientConfig, options: ConnectOptions): Promise<tls.TLSSocket> {
  const connectHost = cfg.HostName || options.host;
  const tlsOptions = clientTlsOptions(cfg, options.alpn);
  const debug = options.debug;
  // Node would connect to an address literal whatever the family says; ssh refuses it, in these words.
  const family = familyOf(cfg, options.family);
  const literal = isIP(connectHost);
  if (family !== 0 && literal !== 0 && literal !== family) {
    throw new TlsshError('TLSSH_ERR_RESOLVE', `Could not resolve hostname ${connectHost}: Address family for hostname not supported`);
  }
  return new Promise((resolve, reject) => {
    debug?.(`connecting to ${connectHost} port ${options.port}`);
    // `family` reaches net.connect through tls.connect; @types/node does not list it there.
    const socket = openTls(
      <tls.ConnectionOptions>{
        ...tlsOptions,
        host: connectHost,
        port: options.port,
        family,
        ...(cfg.BindAddress ? { localAddress: cfg.BindAddress } : {}),
        // SNI takes names only; an IP literal is checked against the SAN's IP entries instead.
        servername: isIP(connectHost) ? undefined : connectHost,
      },
      cfg,
    );
    socket.setNoDelay(true);
    let settled = false;
    const started = Date.now();
    let connectedAt = started;
    let tcpUp = false;
    const timer =
      cfg.ConnectTimeout > 0
        ? setTimeout(() => {
            // ssh's words: before TCP is up the connect timed out; after, the exchange did.
            settle(
              new TlsshError(
                'TLSSH_ERR_CONNECT_TIMEOUT',
                tcpUp
                  ? `Connection to ${connectHost} port ${options.port} timed out during the TLS handshake (ConnectTimeout ${cfg.ConnectTimeout}s)`
                  : `connect to host ${connectHost} port ${options.port}: Connection timed out`,
              ),
            );
          }, cfg.ConnectTimeout * 1000)
        : undefined;
    function settle(err?: TlsshError): void {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      socket.removeListener('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    }
    function onError(err: Error): void {
      const mapped = connectError(err as SslError, connectHost, options.port, cfg.BindAddress);
      if (!NOT_TLS_ERRORS.has((err as SslError).code ?? '') || settled) return settle(mapped);
      // Not TLS at the other end, most often an sshd on the port: look, so the user is told so
      // instead of OpenSSL's "wrong version number".
      void sniffSsh(connectHost, options.port, familyOf(cfg, options.family)).then((banner) => {
        if (banner === undefined) return settle(mapped);
        settle(new TlsshError('TLSSH_ERR_SPEAKS_SSH', `${connectHost} port ${options.port} speaks SSH, not tlssh (it says ${JSON.stringify(banner)}); check Port, or use ssh`, { cause: err }));
      });
    }
    socket.on('error', onError);
    socket.once('connect', () => {
      tcpUp = true;
      connectedAt = Date.now();
      debug?.(`connected to ${connectHost} port ${options.port}${cfg.BindAddress ? ` from ${cfg.BindAddress}` : ''} in ${connectedAt - started} ms`);
    });
    socket.once('secureConnect', () => {
      debug?.(`TLS handshake done in ${Date.now() - connectedAt} ms: ${socket.getProtocol()} ${socket.getCipher().name}`);
      if (debug) for (const line of describeServerCertificate(socket)) debug(line);
      if (options.debug3) for (const line of describeChain(socket)) options.debug3(line);
      try {
        checkServer(socket, connectHost, cfg, options.alpn);
      } catch (err) {
        return settle(err as TlsshError);
      }
      debug?.(`server certificate verified for ${connectHost}`);
      settle();
    });
  });
}

/** -v lines about the certificate the server sent, before it is judged. */
export function describeServerCertificate(socket: tls.TLSSocket): string[] {
  const raw = socket.getPeerCertificate()?.raw;
  if (!raw || raw.length === 0) return ['server sent no certificate'];
  try {
    const x = new X509Certificate(raw);
    return [
      `server certificate: subject "${x.subject.replace(/\n/g, ', ')}", issuer "${x.issuer.replace(/\n/g, ', ')}"`,
      `server certificate: subjectAltName ${x.subjectAltName ?? '(none)'}; serial ${x.serialNumber}; valid ${x.validFrom} to ${x.validTo}`,
      `server certificate: SHA256 fingerprint ${x.fingerprint256}`,
    ];
  } catch {
    return ['server certificate could not be decoded'];
  }
}

const SNIFF_MS = 2000;

/** OpenSSL's answers to bytes that are not TLS at all, as an SSH banner is. */
const NOT_TLS_ERRORS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_UNKNOWN_PROTOCOL', 'ERR_SSL_RECORD_LAYER_FAILURE']);

/**
 * After a failed TLS handshake: connects once more without TLS and reads what the server says
 * first. An SSH server speaks first, with its "SSH-2.0-..." banner; the banner's first line is
 * returned (printable characters only, at most 80), else undefined.
 */
function sniffSsh(host: string, port: number, family: 0 | 4 | 6): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, family });
    let got = Buffer.alloc(0);
    const done = (v: string | undefined): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), SNIFF_MS);
    sock.on('error', () => done(undefined));
    sock.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]).subarray(0, 256);
      if (got.length < 4) return;
      if (got.subarray(0, 4).toString('latin1') !== 'SSH-') return done(undefined);
      const line = got.toString('latin1').split(/\r?\n/)[0] ?? '';
      if (got.includes(0x0a) || got.length >= 256) done(line.replace(/[^\x20-\x7e]/g, '').slice(0, 80));
    });
    sock.on('end', () => done(undefined));
  });
}

/** -vvv lines: every certificate of the chain the server sent, leaf first. */
function describeChain(socket: tls.TLSSocket): string[] {
  const out: string[] = [];
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate;
  const seen = new Set<string>();
  for (let depth = 0; cert && cert.fingerprint256 && !seen.has(cert.fingerprint256); depth++) {
    seen.add(cert.fingerprint256);
    out.push(`server chain depth ${depth}: subject "${formatSubjectLine(cert.subject)}", issuer "${formatSubjectLine(cert.issuer)}", valid ${cert.valid_from} to ${cert.valid_to}`);
    cert = cert.issuerCertificate;
  }
  return out;
}
