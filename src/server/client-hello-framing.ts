// Framing of the first flight a TLS client sends: TLS records of content type 22 (handshake)
// carrying one ClientHello. The listener reads bytes itself until this check says the
// ClientHello is complete, so a worker (a whole Node process) is only ever started for a peer
// that has spoken TLS. Nothing here parses the ClientHello's contents: OpenSSL in the worker
// does that; this only decides "more", "complete" or "not TLS" from record and handshake headers.

/** TLS record header: type (1), legacy version (2), length (2). */
const RECORD_HEADER = 5;
/** Handshake header: msg_type (1), length (3). */
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §5.1: a record's plaintext is at most 2^14 bytes. */
const MAX_RECORD = 16384;

/**
 * The largest ClientHello accepted, and so about the most a connection costs the listener
 * before a worker exists. Real ones are 0.3-2 KiB (a post-quantum key share adds ~1.2 KiB).
 */
export const MAX_CLIENT_HELLO = MAX_RECORD;
/** Bytes buffered at most: one full record's worth of hello plus headers of a few fragments. */
export const MAX_PREAUTH_BYTES = MAX_CLIENT_HELLO + HANDSHAKE_HEADER + 8 * RECORD_HEADER;

export type HelloFraming =
  | { readonly state: 'incomplete' }
  /** `end`: bytes up to the end of the record that completes the ClientHello. */
  | { readonly state: 'complete'; readonly end: number }
  | { readonly state: 'invalid'; readonly reason: string };

const INCOMPLETE: HelloFraming = { state: 'incomplete' };

function invalid(reason: string): HelloFraming {
  return { state: 'invalid', reason };
}

/**
 * Looks at the bytes received so far (from the first byte of the connection) and says whether
 * they hold a complete ClientHello, may still become one, or can never be one. Handles a
 * ClientHello split across reads and one fragmented over several handshake records.
 */
export function frameClientHello(buf: Uint8Array): HelloFraming {
  let off = 0;
  // The handshake message's bytes seen so far, across records; only its header is kept.
  const hs: number[] = [];
  let hsSeen = 0;
  let hsLength = -1;
  while (true) {
    if (buf.length - off < 1) return off >= MAX_PREAUTH_BYTES ? invalid('ClientHello too large') : INCOMPLETE;
    if (buf[off] !== CONTENT_HANDSHAKE) {
      return invalid(off === 0 ? `first byte 0x${hex(buf[0] ?? 0)} is not a TLS handshake record` : 'non-handshake record inside the ClientHello');
    }
    if (buf.length - off >= 2 && buf[off + 1] !== 0x03) return invalid('not a TLS record version');
    // 3.0 to 3.4: clients write 3.1 (TLS 1.0) here for compatibility; anything else is not TLS.
    if (buf.length - off >= 3 && (buf[off + 2] ?? 0xff) > 0x04) return invalid('not a TLS record version');
    if (buf.length - off < RECORD_HEADER) return INCOMPLETE;
    const recordLength = ((buf[off + 3] ?? 0) << 8) | (buf[off + 4] ?? 0);
    // RFC 8446 §5.1 forbids zero-length handshake fragments.
    if (recordLength === 0) return invalid('empty handshake record');
    if (recordLength > MAX_RECORD) return invalid('TLS record longer than 16384 bytes');
    const body = off + RECORD_HEADER;
    if (body + recordLength > MAX_PREAUTH_BYTES) return invalid('ClientHello too large');
    const available = Math.min(recordLength, buf.length - body);
    for (let i = 0; i < available && hs.length < HANDSHAKE_HEADER; i++) hs.push(buf[body + i] ?? 0);
    if (hs.length >= 1 && hs[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
    if (hs.length === HANDSHAKE_HEADER && hsLength < 0) {
      hsLength = ((hs[1] ?? 0) << 16) | ((hs[2] ?? 0) << 8) | (hs[3] ?? 0);
      if (hsLength > MAX_CLIENT_HELLO) return invalid('ClientHello too large');
      // Shortest possible ClientHello: version, random, empty session id, one suite, one compression.
      if (hsLength < 2 + 32 + 1 + 4 + 2) return invalid('ClientHello too short');
    }
    if (available < recordLength) return INCOMPLETE;
    hsSeen += recordLength;
    off = body + recordLength;
    if (hsLength >= 0 && hsSeen >= HANDSHAKE_HEADER + hsLength) {
      // Records carry only this message: a second one in the same flight is not a ClientHello's.
      if (hsSeen > HANDSHAKE_HEADER + hsLength) return invalid('extra handshake data after the ClientHello');
      return { state: 'complete', end: off };
    }
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
