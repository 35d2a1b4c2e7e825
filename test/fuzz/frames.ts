// Frames for the fuzzer: well-formed tlssh/2 messages of every type with random fields (limits
// and their neighbours included), and mutations of them that a hostile peer could send.

import { encodeMessage } from '../../src/protocol/codec';
import { LIMITS, MSG, type Message, type StreamId } from '../../src/protocol/messages';
import type { Rng } from './rng';

const SIGNALS = ['INT', 'TERM', 'HUP', 'QUIT', 'KILL', 'USR1', 'USR2', 'WINCH', 'STOP', 'CONT', 'ALRM', 'PIPE', 'X', 'SIG0', 'ABCDEFGHIJKLMNOP'];
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
  LIMITS.maxFrameBody - 1, LIMITS.maxFrameBody, LIMITS.maxFrameBody + 1, LIMITS.maxStringField + 1, LIMITS.maxWindow, LIMITS.maxWindow + 1];
const INTERESTING_U8 = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, MSG.sessionRequest, MSG.data, MSG.ping, MSG.error];

function text(rng: Rng, max: number, alphabet: string): string {
  const chars = Array.from(alphabet); // code points: never half a surrogate pair
  let s = '';
  for (let i = 0, n = rng.size(Math.min(max, 64)); i < n; i++) {
    const c = chars[rng.int(chars.length)] as string;
    if (Buffer.byteLength(s + c) > max) break;
    s += c;
  }
  return s;
}

const NAME = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_';
const ANY = `${NAME} -./:;=?@[]{}~é€😀`;

function stream(rng: Rng): StreamId {
  return rng.int(3) as StreamId;
}

/** A message the encoder accepts, of any type (session-request only when allowed). */
export function randomMessage(rng: Rng, opts: { sessionRequest?: boolean; bigData?: boolean } = {}): Message {
  const kinds = ['data', 'data', 'data', 'eof', 'window-adjust', 'window-change', 'signal', 'ping', 'pong', 'exit-status', 'error', 'session-started'];
  if (opts.sessionRequest !== false) kinds.push('session-request');
  switch (rng.pick(kinds)) {
    case 'session-request':
      return {
        type: 'session-request',
        user: text(rng, 32, NAME),
        command: text(rng, 200, ANY),
        pty: rng.chance(0.5),
        term: text(rng, LIMITS.maxTerm, 'abcxterm-256color.+_'),
        cols: rng.int(0x10000),
        rows: rng.int(0x10000),
        env: Array.from({ length: rng.int(6) }, () => [text(rng, 20, NAME) || 'X', text(rng, 100, ANY)] as [string, string]),
      };
    case 'session-started':
      return { type: 'session-started', user: text(rng, 32, NAME), window: rng.chance(0.3) ? rng.pick(INTERESTING_U32) : rng.u32() };
    case 'data': {
      const max = opts.bigData === false ? 2048 : LIMITS.maxDataChunk;
      return { type: 'data', stream: stream(rng), data: rng.bytes(rng.size(max)).subarray(0, max) };
    }
    case 'eof':
      return { type: 'eof', stream: stream(rng) };
    case 'window-adjust':
      return { type: 'window-adjust', stream: stream(rng), bytes: rng.chance(0.5) ? rng.pick(INTERESTING_U32) : rng.u32() };
    case 'window-change':
      return { type: 'window-change', cols: rng.chance(0.3) ? rng.pick([0, 1, 0xffff]) : rng.int(500), rows: rng.chance(0.3) ? rng.pick([0, 1, 0xffff]) : rng.int(200) };
    case 'signal':
      return { type: 'signal', name: rng.pick(SIGNALS) };
    case 'ping':
      return { type: 'ping', cookie: rng.u32() };
    case 'pong':
      return { type: 'pong', cookie: rng.u32() };
    case 'exit-status':
      return rng.chance(0.5)
        ? { type: 'exit-status', code: rng.int(256), signal: null, coreDumped: false }
        : { type: 'exit-status', code: null, signal: rng.pick(SIGNALS), coreDumped: rng.chance(0.5) };
    default:
      return { type: 'error', code: `TLSSH_ERR_${text(rng, 20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_') || 'X'}`, message: text(rng, 200, NAME + ' ') };
  }
}

function writeU32(buf: Buffer, off: number, v: number): void {
  if (off + 4 <= buf.length) buf.writeUInt32BE(v >>> 0, off);
}

/** One hostile variation of `frame` (a fresh buffer; `frame` is left alone). */
export function mutate(rng: Rng, frame: Buffer, other: () => Buffer): Buffer {
  let b: Buffer = Buffer.from(frame);
  const rounds = 1 + (rng.chance(0.3) ? rng.int(4) : 0);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(12)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + rng.int(8); i < n && b.length > 0; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 1: // interesting bytes
        for (let i = 0, n = 1 + rng.int(4); i < n && b.length > 0; i++) b[rng.int(b.length)] = rng.pick(INTERESTING_U8);
        break;
      case 2: // the length header
        writeU32(b, 0, rng.chance(0.5) ? rng.pick(INTERESTING_U32) : (b.length - 4 + rng.int(9) - 4));
        break;
      case 3: // the type byte
        if (b.length > 4) b[4] = rng.chance(0.5) ? rng.int(256) : rng.pick(Object.values(MSG));
        break;
      case 4: // a length or count field inside the body
        if (b.length > 8) writeU32(b, 5 + rng.int(b.length - 8), rng.pick(INTERESTING_U32));
        break;
      case 5: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 6: // append garbage
        b = Buffer.concat([b, rng.bytes(rng.size(64))]);
        break;
      case 7: // insert garbage
        {
          const at = rng.int(b.length + 1);
          b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(16)), b.subarray(at)]);
        }
        break;
      case 8: // splice with another frame
        {
          const o = other();
          b = Buffer.concat([b.subarray(0, rng.int(b.length + 1)), o.subarray(rng.int(o.length + 1))]);
        }
        break;
      case 9: // duplicate a region
        {
          const at = rng.int(b.length + 1);
          const len = rng.int(Math.min(64, b.length - at) + 1);
          b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
        }
        break;
      case 10: // pure noise
        b = rng.bytes(rng.size(128));
        break;
      default: // a valid frame header on a noise body
        {
          const body = rng.bytes(1 + rng.size(256));
          const h = Buffer.alloc(4);
          h.writeUInt32BE(body.length);
          b = Buffer.concat([h, body]);
        }
    }
  }
  return b;
}

/** The wire form of a random message; the encoder is the reference for "well-formed". */
export function randomFrame(rng: Rng, opts: { sessionRequest?: boolean; bigData?: boolean } = {}): Buffer {
  return encodeMessage(randomMessage(rng, opts));
}

/** Splits `buf` into chunks as TCP might deliver them. */
export function chunks(rng: Rng, buf: Buffer): Buffer[] {
  if (buf.length === 0 || rng.chance(0.5)) return [buf];
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const n = 1 + rng.int(rng.chance(0.3) ? 4 : buf.length - off);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}
