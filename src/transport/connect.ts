// Client side of the transport: TCP connect and the TLS 1.3 handshake, bounded by
// ConnectTimeout, with the server's chain, name and purpose checked before any byte of the
// session is sent.

import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { ClientConfig } from '../config/types';
import { TlsshError } from '../errors';
import { ALPN_TLSSH2 } from '../protocol/messages';
import { loadCaCertificates, loadCrls } from './pem-files';
import { EKU_SERVER_AUTH, identityOf, peerCertificate } from './peer-identity';
import { TLS_MIN_VERSION, keyMaterial, verifyErrorCode } from './tls-options';

export interface ConnectOptions {
  /** The host as typed: what the server certificate must name. */
  host: string;
  port: number;
  family?: 0 | 4 | 6;
  debug?: (line: string) => void;
}

export function clientTlsOptions(cfg: ClientConfig): tls.ConnectionOptions {
  const opts: tls.ConnectionOptions = {
    ...keyMaterial(cfg),
    minVersion: TLS_MIN_VERSION,
    ca: loadCaCertificates(cfg.ServerCAFile, cfg.ServerCAPath, 'ServerCAFile', 'ServerCAPath'),
    ALPNProtocols: [ALPN_TLSSH2],
    // Judged in checkServer() so that the user is told exactly what was wrong.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  };
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

function connectError(err: SslError, host: string, port: number): TlsshError {
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new TlsshError('TLSSH_ERR_RESOLVE', `Could not resolve hostname ${host}: Name or service not known`, { cause: err });
    case 'ECONNREFUSED':
      return new TlsshError('TLSSH_ERR_CONNECT', `connect to host ${host} port ${port}: Connection refused`, { cause: err });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TlsshError('TLSSH_ERR_CONNECT', `connect to host ${host} port ${port}: No route to host`, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      return new TlsshError('TLSSH_ERR_TLS_HANDSHAKE', `connection to ${host} port ${port} closed during the TLS handshake`, { cause: err });
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

/** Throws unless the server's certificate chains to our CA, names `host`, and may serve. */
export function checkServer(socket: tls.TLSSocket, host: string): void {
  const cert = peerCertificate(socket);
  if (!cert) throw new TlsshError('TLSSH_ERR_SERVER_CERT_UNTRUSTED', `server ${host} presented no certificate`);
  if (!socket.authorized) {
    const why = verifyErrorCode(socket.authorizationError as Error | string | null);
    if (why === 'INVALID_PURPOSE') {
      throw new TlsshError('TLSSH_ERR_SERVER_EKU', `server certificate of ${host} is not for server authentication (extendedKeyUsage)`);
    }
    if (why === 'CERT_REVOKED') throw new TlsshError('TLSSH_ERR_SERVER_CERT_UNTRUSTED', `server certificate of ${host} has been revoked`);
    throw new TlsshError('TLSSH_ERR_SERVER_CERT_UNTRUSTED', `server certificate of ${host} not trusted: ${why}`);
  }
  const id = identityOf(cert);
  if (id.extKeyUsage && !id.extKeyUsage.includes(EKU_SERVER_AUTH)) {
    throw new TlsshError('TLSSH_ERR_SERVER_EKU', `server certificate of ${host} is not for server authentication (extendedKeyUsage)`);
  }
  const mismatch = tls.checkServerIdentity(host, cert);
  if (mismatch) {
    const names = cert.subjectaltname ? cert.subjectaltname : `CN=${id.commonNames.join(',')} and no subjectAltName`;
    throw new TlsshError('TLSSH_ERR_SERVER_NAME_MISMATCH', `server certificate does not match host "${host}": it is for ${names}`);
  }
  if (socket.alpnProtocol !== ALPN_TLSSH2) {
    throw new TlsshError('TLSSH_ERR_ALPN', `server ${host} does not speak ${ALPN_TLSSH2}`);
  }
}

/** Wraps key-loading failures inside tls.connect, which OpenSSL reports in its own words. */
function openTls(options: tls.ConnectionOptions, cfg: ClientConfig): tls.TLSSocket {
  try {
    return tls.connect(options);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException & { reason?: string }).reason ?? (err as Error).message;
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `cannot use CertFile ${cfg.CertFile} with KeyFile ${cfg.KeyFile}: ${reason}`, { cause: err });
  }
}

export async function connectTls(cfg: ClientConfig, options: ConnectOptions): Promise<tls.TLSSocket> {
  const connectHost = cfg.HostName || options.host;
  const tlsOptions = clientTlsOptions(cfg);
  const debug = options.debug;
  return new Promise((resolve, reject) => {
    debug?.(`connecting to ${connectHost} port ${options.port}`);
    // `family` reaches net.connect through tls.connect; @types/node does not list it there.
    const socket = openTls(
      <tls.ConnectionOptions>{
        ...tlsOptions,
        host: connectHost,
        port: options.port,
        family: familyOf(cfg, options.family),
        // SNI takes names only; an IP literal is checked against the SAN's IP entries instead.
        servername: isIP(connectHost) ? undefined : connectHost,
      },
      cfg,
    );
    socket.setNoDelay(true);
    let settled = false;
    const timer =
      cfg.ConnectTimeout > 0
        ? setTimeout(() => {
            settle(new TlsshError('TLSSH_ERR_CONNECT_TIMEOUT', `connect to host ${connectHost} port ${options.port}: Connection timed out`));
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
      settle(connectError(err as SslError, connectHost, options.port));
    }
    socket.on('error', onError);
    socket.once('connect', () => debug?.(`connected to ${connectHost} port ${options.port}`));
    socket.once('secureConnect', () => {
      try {
        checkServer(socket, connectHost);
      } catch (err) {
        return settle(err as TlsshError);
      }
      debug?.(`TLS ${socket.getProtocol()} ${socket.getCipher().name}, server certificate verified for ${connectHost}`);
      settle();
    });
  });
}
