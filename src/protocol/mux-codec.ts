// tlssh/2+mux frames <-> messages (doc/PROTOCOL.md section 12). No I/O. A per-session frame is
// the tlssh/2 frame of the same message with a u32 session id after the type byte, so the
// payloads are encoded and checked by codec.ts itself and the two cannot disagree. Every byte
// handed to the decoder is hostile; after its first error the decoder stays failed.

import { TlsshError } from '../errors';
import { decodeBody, encodeMessage } from './codec';
import { FRAME_HEADER as HEADER, FrameReader, decoderFailure, truncatedAtEnd } from './frame-reader';
import { LIMITS, MSG, type ErrorMessage, type Message } from './messages';
import { MUX_MSG, isConnectionWide, type MuxFrame, type SessionMessage } from './mux-messages';

const SESSION_BYTES = 4;

function malformed(message: string): TlsshError {
  return new TlsshError('TLSSH_ERR_FRAME_MALFORMED', message);
}

function tooLarge(message: string): TlsshError {
  return new TlsshError('TLSSH_ERR_FRAME_TOO_LARGE', message);
}

/** Type bytes that carry a session id, with the tlssh/2 type their payload is decoded as. */
const PER_SESSION = new Map<number, number>([
  [MSG.sessionRequest, MSG.sessionRequest],
  [MSG.sessionStarted, MSG.sessionStarted],
  [MUX_MSG.sessionClose, MUX_MSG.sessionClose],
  [MSG.data, MSG.data],
  [MSG.eof, MSG.eof],
  [MSG.windowAdjust, MSG.windowAdjust],
  [MSG.windowChange, MSG.windowChange],
  [MSG.signal, MSG.signal],
  [MSG.exitStatus, MSG.exitStatus],
  // session-error has the payload of error.
  [MUX_MSG.sessionError, MSG.error],
]);

const CONNECTION_WIDE = new Set<number>([MSG.ping, MSG.pong, MSG.error]);

function sessionIdField(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 0xffffffff) {
    throw malformed('session id must be an integer in 1..4294967295');
  }
  return value;
}

/**
 * `plainFrame` (a complete tlssh/2 frame of a per-session message) as a tlssh/2+mux frame of
 * `session`. `asType` replaces the type byte (error -> session-error). The size limit applies to
 * the result.
 */
export function muxFromPlain(session: number, plainFrame: Buffer, asType?: number): Buffer {
  const id = sessionIdField(session);
  const body = plainFrame.length - HEADER + SESSION_BYTES;
  if (body > LIMITS.maxFrameBody) throw tooLarge(`frame body is ${body} bytes, over ${LIMITS.maxFrameBody}`);
  const out = Buffer.allocUnsafe(HEADER + body);
  out.writeUInt32BE(body, 0);
  out[HEADER] = asType ?? (plainFrame[HEADER] as number);
  out.writeUInt32BE(id, HEADER + 1);
  plainFrame.copy(out, HEADER + 1 + SESSION_BYTES, HEADER + 1);
  return out;
}

/** One complete tlssh/2+mux frame for `f`; refuses what the decoder would refuse, as encodeMessage does. */
export function encodeMuxFrame(f: MuxFrame): Buffer {
  if (f.session === null) {
    const wide: { type: string } = f.message;
    if (!isConnectionWide(wide)) throw malformed(`${wide.type} needs a session id`);
    return encodeMessage(f.message);
  }
  const m: SessionMessage = f.message;
  // Callers outside TypeScript's view (JSON vectors, fuzzers) can still pair these with an id.
  const type: string = (m as { type: string }).type;
  if (type === 'ping' || type === 'pong' || type === 'error') throw malformed(`${type} is connection-wide and carries no session id`);
  if (m.type === 'session-close') {
    const out = Buffer.allocUnsafe(HEADER + 1 + SESSION_BYTES);
    out.writeUInt32BE(1 + SESSION_BYTES, 0);
    out[HEADER] = MUX_MSG.sessionClose;
    out.writeUInt32BE(sessionIdField(f.session), HEADER + 1);
    return out;
  }
  if (m.type === 'session-error') {
    const asError: ErrorMessage = { type: 'error', code: m.code, message: m.message };
    return muxFromPlain(f.session, encodeMessage(asError), MUX_MSG.sessionError);
  }
  return muxFromPlain(f.session, encodeMessage(m));
}

function decodeMuxBody(body: Buffer): MuxFrame {
  const type = body[0] as number;
  if (CONNECTION_WIDE.has(type)) {
    const m = decodeBody(body);
    return { session: null, message: m as MuxFrame['message'] & { type: 'ping' | 'pong' | 'error' } };
  }
  const plainType = PER_SESSION.get(type);
  if (plainType === undefined) {
    throw new TlsshError('TLSSH_ERR_FRAME_UNKNOWN_TYPE', `unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  }
  if (body.length < 1 + SESSION_BYTES) throw malformed(`message type 0x${type.toString(16)}: truncated at session id`);
  const session = body.readUInt32BE(1);
  if (session === 0) throw malformed('session id 0 is reserved');
  if (type === MUX_MSG.sessionClose) {
    if (body.length !== 1 + SESSION_BYTES) throw malformed(`session-close: ${body.length - 1 - SESSION_BYTES} trailing bytes`);
    return { session, message: { type: 'session-close' } };
  }
  // The tlssh/2 body is the type byte followed by what comes after the id: reuse the id's last
  // byte for the type. The frame's bytes are ours (MessageDecoder's push() contract).
  const plain = body.subarray(SESSION_BYTES);
  plain[0] = plainType;
  const m: Message = decodeBody(plain);
  if (m.type === 'error') return { session, message: { type: 'session-error', code: m.code, message: m.message } };
  return { session, message: m as SessionMessage };
}

/**
 * Turns a byte stream into tlssh/2+mux frames. Unlike MessageDecoder it always assembles whole
 * frames (a data frame spanning chunks is copied once): the multiplexer routes by session id,
 * which must be known before any of the frame is passed on.
 *
 * push() takes ownership of the chunk, as MessageDecoder's does.
 */
export class MuxDecoder {
  private readonly frames = new FrameReader(LIMITS.maxFrameBody, decodeMuxBody);
  private failure: TlsshError | null = null;

  get buffered(): number {
    return this.frames.buffered;
  }

  push(chunk: Buffer): MuxFrame[] {
    if (this.failure !== null) throw this.failure;
    const out: MuxFrame[] = [];
    try {
      this.frames.read(chunk, 0, out);
    } catch (e) {
      this.failure = decoderFailure(e);
      this.frames.drop();
      throw this.failure;
    }
    return out;
  }

  finish(): void {
    if (this.failure !== null) throw this.failure;
    if (this.buffered > 0) {
      this.failure = truncatedAtEnd(this.buffered);
      throw this.failure;
    }
  }
}
