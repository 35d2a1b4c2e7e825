// The tlssh/2+mux extension (doc/PROTOCOL.md section 12): several sessions over one connection.
// Every per-session message is a tlssh/2 message with a session id; ping, pong and error stay
// connection-wide. Kept apart from messages.ts so that a plain tlssh/2 peer never sees these types.

import type { ErrorMessage, Message, Ping, Pong } from './messages';

/** Offered by a client that multiplexes; a server that implements it selects it over tlssh/2. */
export const ALPN_TLSSH2_MUX = 'tlssh/2+mux';
/** The same over tlssh/3 (terminal modes in session-request). */
export const ALPN_TLSSH3_MUX = 'tlssh/3+mux';

/** Message types that exist only in tlssh/2+mux. */
export const MUX_MSG = {
  sessionClose: 0x03,
  sessionError: 0x31,
} as const;

/** Either side: this side is done with the session (section 12.4). */
export interface SessionClose {
  type: 'session-close';
}

/** Server -> client: this session failed or was refused; the connection and the others go on. */
export interface SessionError {
  type: 'session-error';
  /** A TlsshError code (src/errors.ts), e.g. TLSSH_ERR_MAX_SESSIONS. */
  code: string;
  message: string;
}

/** Messages about the connection as a whole: no session id. */
export type ConnectionWideMessage = Ping | Pong | ErrorMessage;

/** Messages that belong to one session and carry its id. */
export type SessionMessage = Exclude<Message, ConnectionWideMessage> | SessionClose | SessionError;

export type MuxFrame =
  | { session: number; message: SessionMessage }
  | { session: null; message: ConnectionWideMessage };

export const MUX_LIMITS = {
  /** Session ids are u32; 0 is reserved, so that a zeroed field is never a live session. */
  maxSessionId: 0xffffffff,
  /**
   * Ids the server keeps waiting for the client's session-close beyond its MaxSessions: a
   * client that never acknowledges refusals cannot make the server remember ids without end.
   */
  maxUnacknowledged: 16,
} as const;

export function isConnectionWide(m: { type: string }): m is ConnectionWideMessage {
  return m.type === 'ping' || m.type === 'pong' || m.type === 'error';
}
