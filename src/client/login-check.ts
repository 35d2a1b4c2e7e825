// tlssh -N: connect, log in, run nothing, and say whether the login would work. A direct
// connection logs in only with a session, so -N asks for a shared one (tlssh/2+mux): the server
// logs that in right after the handshake (user, Allow/Deny lists, PAM account and session) and
// answers with its first ping, or with the refusal (doc/PROTOCOL.md section 12.5).

import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { ClientConfig } from '../config/types';
import { TlsshError } from '../errors';
import { openMuxConnection } from './mux-connection';

/**
 * Throws for a user asked for with -l or user@ that the certificate cannot name, before anything
 * is asked of the server. The login of a shared connection names no user (the certificate does),
 * so this is the one part of -N's answer decided here, by the server's own rule
 * (src/server/cert-user.ts): the CN is the user, or `user.ClientDomain`. Only a user that no
 * ClientDomain could give is refused.
 */
export function refuseUserTheCertificateCannotName(cfg: Pick<ClientConfig, 'CertFile' | 'User'>): void {
  const user = cfg.User;
  if (user === '') return;
  let cns: string[];
  try {
    const subject = new X509Certificate(fs.readFileSync(cfg.CertFile)).subject;
    cns = subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  } catch {
    // Unreadable here: the connection fails with its own words.
    return;
  }
  const cn = cns.length === 1 ? cns[0]! : undefined;
  // Case counts, as on the server. A ClientDomain the client cannot know may still make a longer
  // prefix the user (CN a.b.example, ClientDomain example): only what no domain could give is refused.
  if (cn === undefined || cn === user || cn.startsWith(`${user}.`)) return;
  throw new TlsshError('TLSSH_ERR_USER_MISMATCH', `certificate is for user ${cn}, not ${user}`);
}

/** Resolves once the server has logged the connection in; rejects with its refusal. */
export async function checkLogin(cfg: ClientConfig, socket: TLSSocket, debug?: (line: string) => void): Promise<void> {
  const conn = openMuxConnection(socket, { keepalive: cfg.Keepalive, keepaliveMaxMissed: cfg.ServerAliveCountMax, ...(debug ? { debug } : {}) });
  if (!conn.multiplexing) {
    socket.destroy();
    throw new TlsshError('TLSSH_ERR_ALPN', `the server chose ${String(socket.alpnProtocol)}, which logs in only with a session: -N cannot check the login there; run a command such as "true" instead`);
  }
  try {
    await conn.loggedIn;
  } finally {
    conn.close();
  }
}
