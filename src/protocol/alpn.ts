// Which tlssh protocol a connection speaks, from the ALPN identifier the server selected
// (doc/PROTOCOL.md section 2). tlssh/3 is tlssh/2 plus the terminal's modes in session-request;
// "+mux" adds several sessions over one connection (section 12). A server selects, in its own
// order, the highest identifier it implements that the client offered.

import { ALPN_TLSSH2, ALPN_TLSSH3, type SessionRequest } from './messages';
import { ALPN_TLSSH2_MUX, ALPN_TLSSH3_MUX } from './mux-messages';

export interface Negotiated {
  /** Several sessions over the connection (section 12). */
  readonly multiplexed: boolean;
  /** session-request may carry the terminal's modes (flag bit 2). */
  readonly ttyModes: boolean;
}

const KNOWN: ReadonlyMap<string, Negotiated> = new Map([
  [ALPN_TLSSH3_MUX, { multiplexed: true, ttyModes: true }],
  [ALPN_TLSSH3, { multiplexed: false, ttyModes: true }],
  [ALPN_TLSSH2_MUX, { multiplexed: true, ttyModes: false }],
  [ALPN_TLSSH2, { multiplexed: false, ttyModes: false }],
]);

/** What the server offers, preferred first. */
export const SERVER_ALPN: readonly string[] = [...KNOWN.keys()];
/** A client with one session per connection. */
export const DIRECT_ALPN: readonly string[] = [ALPN_TLSSH3, ALPN_TLSSH2];
/** A connection-sharing master: multiplexed where the server can, else one connection per session. */
export const MUX_ALPN: readonly string[] = SERVER_ALPN;

/** The protocol a selected identifier means; undefined for none or one tlssh does not speak. */
export function negotiated(alpn: string | false | null | undefined): Negotiated | undefined {
  return typeof alpn === 'string' ? KNOWN.get(alpn) : undefined;
}

/** `request` as a connection that selected `alpn` may carry it: the terminal's modes only over tlssh/3. */
export function requestFor(alpn: string | false | null | undefined, request: SessionRequest): SessionRequest {
  if (request.modes === undefined || negotiated(alpn)?.ttyModes === true) return request;
  const { modes: _dropped, ...rest } = request;
  return rest;
}
