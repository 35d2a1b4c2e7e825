// tlssh/2 frames <-> messages. No I/O, no timers: bytes in, messages out, so plain Buffers test
// it. Every byte handed to the decoder is treated as hostile; the layouts are specified in
// doc/PROTOCOL.md, whose test vectors the unit tests check against this file.

import { isUtf8 } from 'node:buffer';
import { TlsshError } from '../errors';
import {
  LIMITS,
  MSG,
  type Data,
  type ErrorMessage,
  type ExitStatus,
  type Message,
  type SessionRequest,
  type StreamId,
} from './messages';
import { FRAME_HEADER as HEADER, FrameReader, decoderFailure, truncatedAtEnd } from './frame-reader';

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

const PTY_FLAG = 0x01;
/** session-request: `command` names a subsystem (tlsshd's Subsystem keyword), as ssh -s. */
const SUBSYSTEM_FLAG = 0x02;
/** session-request, tlssh/3 only: the terminal's modes follow the environment. */
const MODES_FLAG = 0x04;
/** A subsystem name: what sshd_config's Subsystem lines use (sftp, netconf, name@domain). */
const SUBSYSTEM_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const CORE_DUMPED_FLAG = 0x01;
const EXIT_KIND_CODE = 0;
const EXIT_KIND_SIGNAL = 1;

const TERM_RE = /^[A-Za-z0-9._+-]*$/;
const SIGNAL_RE = /^[A-Z0-9]+$/;
const ERROR_CODE_RE = /^TLSSH_ERR_[A-Z0-9_]+$/;
// Text that ends up in logs or on a terminal must not carry escape sequences or line breaks.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function malformed(message: string): TlsshError {
  return new TlsshError('TLSSH_ERR_FRAME_MALFORMED', message);
}

function tooLarge(message: string): TlsshError {
  return new TlsshError('TLSSH_ERR_FRAME_TOO_LARGE', message);
}

function isStream(n: unknown): n is StreamId {
  return n === 0 || n === 1 || n === 2;
}

/* ------------------------------------------------------------------------------------------ */
/* Field rules shared by both directions, so the encoder never emits what the decoder refuses. */

type TextRule = {
  what: string;
  max: number;
  /** Returns a reason when `s` is not acceptable. */
  check: (s: string) => string | null;
};

const noNul = (s: string): string | null => (s.includes('\u0000') ? 'contains NUL' : null);
const noControl = (s: string): string | null => (CONTROL_RE.test(s) ? 'contains a control character' : null);

const RULES = {
  user: { what: 'user', max: LIMITS.maxUser, check: noControl },
  command: { what: 'command', max: LIMITS.maxCommand, check: noNul },
  term: {
    what: 'term',
    max: LIMITS.maxTerm,
    check: (s) => (TERM_RE.test(s) ? null : 'is not a terminfo name ([A-Za-z0-9._+-])'),
  },
  envName: {
    what: 'environment name',
    max: LIMITS.maxStringField,
    check: (s) => {
      if (s.length === 0) return 'is empty';
      if (s.includes('=')) return "contains '='";
      return noControl(s);
    },
  },
  envValue: { what: 'environment value', max: LIMITS.maxStringField, check: noNul },
  signal: {
    what: 'signal name',
    max: LIMITS.maxSignalName,
    check: (s) => (SIGNAL_RE.test(s) ? null : 'is not [A-Z0-9]{1,16}'),
  },
  errorCode: {
    what: 'error code',
    max: LIMITS.maxErrorCode,
    check: (s) => (ERROR_CODE_RE.test(s) ? null : 'is not TLSSH_ERR_[A-Z0-9_]+'),
  },
  errorMessage: { what: 'error message', max: LIMITS.maxErrorMessage, check: noControl },
} as const satisfies Record<string, TextRule>;

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */

/** A string field, already converted and checked, waiting to be written. */
function textField(value: unknown, rule: TextRule): Buffer {
  if (typeof value !== 'string') throw malformed(`${rule.what} is not a string`);
  if (LONE_SURROGATE_RE.test(value)) throw malformed(`${rule.what} is not well-formed Unicode`);
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > rule.max) throw tooLarge(`${rule.what} is ${bytes.length} bytes, over ${rule.max}`);
  const why = rule.check(value);
  if (why !== null) throw malformed(`${rule.what} ${why}`);
  return bytes;
}

function intField(value: unknown, what: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw malformed(`${what} must be an integer in 0..${max}`);
  }
  return value;
}

function streamField(value: unknown): StreamId {
  if (!isStream(value)) throw malformed('stream must be 0 (stdin), 1 (stdout) or 2 (stderr)');
  return value;
}

function boolField(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw malformed(`${what} must be a boolean`);
  return value;
}

/** Writes fields into a frame whose size was computed up front: one allocation per message. */
class FrameWriter {
  readonly buf: Buffer;
  private off = HEADER;

  constructor(type: number, payloadBytes: number) {
    const body = 1 + payloadBytes;
    if (body > LIMITS.maxFrameBody) throw tooLarge(`frame body is ${body} bytes, over ${LIMITS.maxFrameBody}`);
    this.buf = Buffer.allocUnsafe(HEADER + body);
    this.buf.writeUInt32BE(body, 0);
    this.u8(type);
  }

  u8(n: number): void {
    this.buf[this.off++] = n;
  }

  u16(n: number): void {
    this.buf.writeUInt16BE(n, this.off);
    this.off += 2;
  }

  u32(n: number): void {
    this.buf.writeUInt32BE(n, this.off);
    this.off += 4;
  }

  str(bytes: Buffer): void {
    this.u32(bytes.length);
    this.raw(bytes);
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.off);
    this.off += bytes.length;
  }

  done(): Buffer {
    if (this.off !== this.buf.length) throw new TlsshError('TLSSH_ERR_INTERNAL', 'frame size miscomputed');
    return this.buf;
  }
}

const strSize = (b: Buffer): number => 4 + b.length;

function encodeSessionRequest(m: SessionRequest): Buffer {
  const pty = boolField(m.pty, 'pty');
  const user = textField(m.user, RULES.user);
  const command = textField(m.command, RULES.command);
  const subsystem = m.subsystem === undefined ? false : boolField(m.subsystem, 'subsystem');
  if (subsystem && !SUBSYSTEM_RE.test(m.command)) throw malformed(`subsystem name ${JSON.stringify(m.command)} is not [A-Za-z0-9._@+-]{1,64}`);
  const term = textField(m.term, RULES.term);
  const cols = intField(m.cols, 'cols', U16_MAX);
  const rows = intField(m.rows, 'rows', U16_MAX);
  if (!Array.isArray(m.env)) throw malformed('env must be an array');
  if (m.env.length > LIMITS.maxEnvEntries) {
    throw tooLarge(`${m.env.length} environment entries, over ${LIMITS.maxEnvEntries}`);
  }
  const env: Buffer[] = [];
  let size = 1 + strSize(user) + strSize(command) + strSize(term) + 2 + 2 + 2;
  for (const entry of m.env) {
    if (!Array.isArray(entry) || entry.length !== 2) throw malformed('env entries must be [name, value] pairs');
    const name = textField(entry[0], RULES.envName);
    const value = textField(entry[1], RULES.envValue);
    env.push(name, value);
    size += strSize(name) + strSize(value);
  }
  const modes = m.modes === undefined ? undefined : modesField(m.modes);
  if (modes !== undefined) size += 2 + 5 * modes.length;
  const w = new FrameWriter(MSG.sessionRequest, size);
  w.u8((pty ? PTY_FLAG : 0) | (subsystem ? SUBSYSTEM_FLAG : 0) | (modes !== undefined ? MODES_FLAG : 0));
  w.str(user);
  w.str(command);
  w.str(term);
  w.u16(cols);
  w.u16(rows);
  w.u16(m.env.length);
  for (const b of env) w.str(b);
  if (modes !== undefined) {
    w.u16(modes.length);
    for (const [opcode, value] of modes) {
      w.u8(opcode);
      w.u32(value);
    }
  }
  return w.done();
}

function modesField(modes: unknown): Array<[number, number]> {
  if (!Array.isArray(modes)) throw malformed('modes must be an array');
  if (modes.length > LIMITS.maxTtyModes) throw tooLarge(`${modes.length} terminal modes, over ${LIMITS.maxTtyModes}`);
  return modes.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) throw malformed('modes must be [opcode, value] pairs');
    const opcode = intField(entry[0], 'terminal mode opcode', LIMITS.maxTtyOpcode);
    if (opcode === 0) throw malformed('terminal mode opcode 0');
    return [opcode, intField(entry[1], 'terminal mode value', U32_MAX)];
  });
}

function encodeData(m: Data): Buffer {
  const stream = streamField(m.stream);
  const data: unknown = m.data;
  if (!(data instanceof Uint8Array)) throw malformed('data must be a Buffer');
  if (data.length > LIMITS.maxDataChunk) {
    throw tooLarge(`data chunk is ${data.length} bytes, over ${LIMITS.maxDataChunk}`);
  }
  const w = new FrameWriter(MSG.data, 1 + data.length);
  w.u8(stream);
  w.raw(data);
  return w.done();
}

/** Bytes of a data frame before its data: length, type and stream. */
export const DATA_HEADER = HEADER + 2;

/**
 * The first DATA_HEADER bytes of the data frame that carries `length` bytes on `stream`: the
 * frame is this header followed by the data itself, so a sender can hand the data to the socket
 * as it is (a view of the chunk it read) instead of copying it into a frame.
 */
export function encodeDataHeader(stream: StreamId, length: number): Buffer {
  streamField(stream);
  if (!Number.isInteger(length) || length < 0 || length > LIMITS.maxDataChunk) {
    throw tooLarge(`data chunk is ${length} bytes, over ${LIMITS.maxDataChunk}`);
  }
  const h = Buffer.allocUnsafe(DATA_HEADER);
  h.writeUInt32BE(2 + length, 0);
  h[HEADER] = MSG.data;
  h[HEADER + 1] = stream;
  return h;
}

function encodeExitStatus(m: ExitStatus): Buffer {
  const core = boolField(m.coreDumped, 'coreDumped');
  if (m.code !== null && m.signal === null) {
    const code = intField(m.code, 'exit code', 0xff);
    if (core) throw malformed('coreDumped is only meaningful with a signal');
    const w = new FrameWriter(MSG.exitStatus, 2);
    w.u8(EXIT_KIND_CODE);
    w.u8(code);
    return w.done();
  }
  if (m.code === null && m.signal !== null) {
    const name = textField(m.signal, RULES.signal);
    const w = new FrameWriter(MSG.exitStatus, 2 + strSize(name));
    w.u8(EXIT_KIND_SIGNAL);
    w.u8(core ? CORE_DUMPED_FLAG : 0);
    w.str(name);
    return w.done();
  }
  throw malformed('exit status needs exactly one of code and signal');
}

function encodeError(m: ErrorMessage): Buffer {
  const code = textField(m.code, RULES.errorCode);
  const text = textField(m.message, RULES.errorMessage);
  const w = new FrameWriter(MSG.error, strSize(code) + strSize(text));
  w.str(code);
  w.str(text);
  return w.done();
}

function encodeCookie(type: number, cookie: unknown): Buffer {
  const w = new FrameWriter(type, 4);
  w.u32(intField(cookie, 'cookie', U32_MAX));
  return w.done();
}

/**
 * One complete frame (length header included) for `m`. Throws TLSSH_ERR_FRAME_TOO_LARGE when a
 * field or the frame is over its limit, TLSSH_ERR_FRAME_MALFORMED for any other value the
 * decoder would refuse, so a peer never receives a frame this side could not itself read.
 */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case 'session-request':
      return encodeSessionRequest(m);
    case 'session-started': {
      const user = textField(m.user, RULES.user);
      const window = intField(m.window, 'window', U32_MAX);
      const w = new FrameWriter(MSG.sessionStarted, strSize(user) + 4);
      w.str(user);
      w.u32(window);
      return w.done();
    }
    case 'data':
      return encodeData(m);
    case 'eof': {
      const w = new FrameWriter(MSG.eof, 1);
      w.u8(streamField(m.stream));
      return w.done();
    }
    case 'window-adjust': {
      const stream = streamField(m.stream);
      const bytes = intField(m.bytes, 'window-adjust bytes', U32_MAX);
      const w = new FrameWriter(MSG.windowAdjust, 5);
      w.u8(stream);
      w.u32(bytes);
      return w.done();
    }
    case 'window-change': {
      const cols = intField(m.cols, 'cols', U16_MAX);
      const rows = intField(m.rows, 'rows', U16_MAX);
      const w = new FrameWriter(MSG.windowChange, 4);
      w.u16(cols);
      w.u16(rows);
      return w.done();
    }
    case 'signal': {
      const name = textField(m.name, RULES.signal);
      const w = new FrameWriter(MSG.signal, strSize(name));
      w.str(name);
      return w.done();
    }
    case 'exit-status':
      return encodeExitStatus(m);
    case 'ping':
      return encodeCookie(MSG.ping, m.cookie);
    case 'pong':
      return encodeCookie(MSG.pong, m.cookie);
    case 'error':
      return encodeError(m);
    default: {
      const unknownType: unknown = (m as { type?: unknown }).type;
      throw new TlsshError('TLSSH_ERR_FRAME_UNKNOWN_TYPE', `cannot encode message type ${String(unknownType)}`);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                    */

/** Reads the payload of one complete frame body; every read is bounds-checked. */
class BodyReader {
  private off = 1; // after the type byte

  constructor(
    private readonly body: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number, field: string): void {
    if (this.body.length - this.off < n) throw malformed(`${this.what}: truncated at ${field}`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.body[this.off++] as number;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.body.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.body.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  str(rule: TextRule): string {
    const len = this.u32(rule.what);
    if (len > rule.max) throw malformed(`${this.what}: ${rule.what} is ${len} bytes, over ${rule.max}`);
    this.need(len, rule.what);
    const start = this.off;
    this.off += len;
    const bytes = this.body.subarray(start, this.off);
    if (!isUtf8(bytes)) throw malformed(`${this.what}: ${rule.what} is not valid UTF-8`);
    const s = bytes.toString('utf8');
    const why = rule.check(s);
    if (why !== null) throw malformed(`${this.what}: ${rule.what} ${why}`);
    return s;
  }

  stream(): StreamId {
    const n = this.u8('stream');
    if (!isStream(n)) throw malformed(`${this.what}: unknown stream ${n}`);
    return n;
  }

  end(): void {
    if (this.off !== this.body.length) {
      throw malformed(`${this.what}: ${this.body.length - this.off} trailing bytes`);
    }
  }
}

function decodeSessionRequest(body: Buffer): SessionRequest {
  const r = new BodyReader(body, 'session-request');
  const flags = r.u8('flags');
  if ((flags & ~(PTY_FLAG | SUBSYSTEM_FLAG | MODES_FLAG)) !== 0) throw malformed(`session-request: reserved flag bits set (0x${flags.toString(16)})`);
  const user = r.str(RULES.user);
  const command = r.str(RULES.command);
  const subsystem = (flags & SUBSYSTEM_FLAG) !== 0;
  if (subsystem && !SUBSYSTEM_RE.test(command)) throw malformed('session-request: the subsystem name is not [A-Za-z0-9._@+-]{1,64}');
  const term = r.str(RULES.term);
  const cols = r.u16('cols');
  const rows = r.u16('rows');
  const count = r.u16('environment count');
  if (count > LIMITS.maxEnvEntries) {
    throw malformed(`session-request: ${count} environment entries, over ${LIMITS.maxEnvEntries}`);
  }
  const env: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) env.push([r.str(RULES.envName), r.str(RULES.envValue)]);
  let modes: Array<[number, number]> | undefined;
  if ((flags & MODES_FLAG) !== 0) {
    // Whether the connection allows them (tlssh/3) is the session layer's to check: the codec
    // has no connection state.
    const n = r.u16('terminal mode count');
    if (n > LIMITS.maxTtyModes) throw malformed(`session-request: ${n} terminal modes, over ${LIMITS.maxTtyModes}`);
    modes = [];
    for (let i = 0; i < n; i++) {
      const opcode = r.u8('terminal mode opcode');
      if (opcode === 0 || opcode > LIMITS.maxTtyOpcode) throw malformed(`session-request: terminal mode opcode ${opcode} is not 1..${LIMITS.maxTtyOpcode}`);
      modes.push([opcode, r.u32('terminal mode value')]);
    }
  }
  r.end();
  const pty = (flags & PTY_FLAG) !== 0;
  // `subsystem` and `modes` appear only when set, so requests without them decode exactly as before.
  return { type: 'session-request', user, command, pty, ...(subsystem ? { subsystem: true } : {}), term, cols, rows, env, ...(modes ? { modes } : {}) };
}

function decodeData(body: Buffer): Data {
  if (body.length < 2) throw malformed('data: truncated at stream');
  const stream = body[1] as number;
  if (!isStream(stream)) throw malformed(`data: unknown stream ${stream}`);
  if (body.length - 2 > LIMITS.maxDataChunk) {
    throw malformed(`data: chunk is ${body.length - 2} bytes, over ${LIMITS.maxDataChunk}`);
  }
  // `body` is never a reused buffer (see MessageDecoder), so a view is safe to hand out.
  return { type: 'data', stream, data: body.subarray(2) };
}

function decodeExitStatus(body: Buffer): ExitStatus {
  const r = new BodyReader(body, 'exit-status');
  const kind = r.u8('kind');
  let result: ExitStatus;
  if (kind === EXIT_KIND_CODE) {
    result = { type: 'exit-status', code: r.u8('code'), signal: null, coreDumped: false };
  } else if (kind === EXIT_KIND_SIGNAL) {
    const flags = r.u8('flags');
    if ((flags & ~CORE_DUMPED_FLAG) !== 0) throw malformed(`exit-status: reserved flag bits set (0x${flags.toString(16)})`);
    result = { type: 'exit-status', code: null, signal: r.str(RULES.signal), coreDumped: flags === CORE_DUMPED_FLAG };
  } else {
    throw malformed(`exit-status: unknown kind ${kind}`);
  }
  r.end();
  return result;
}

/** Decodes one complete frame body (type byte first); exported for the tlssh/2+mux codec. */
type BodyDecoder = (body: Buffer) => Message;

// Dispatch table indexed by the type byte; holes are unknown types.
const DECODERS: Array<BodyDecoder | undefined> = new Array<BodyDecoder | undefined>(256);
DECODERS[MSG.sessionRequest] = decodeSessionRequest;
DECODERS[MSG.sessionStarted] = (body) => {
  const r = new BodyReader(body, 'session-started');
  const m = { type: 'session-started', user: r.str(RULES.user), window: r.u32('window') } as const;
  r.end();
  return m;
};
DECODERS[MSG.data] = decodeData;
DECODERS[MSG.eof] = (body) => {
  const r = new BodyReader(body, 'eof');
  const m = { type: 'eof', stream: r.stream() } as const;
  r.end();
  return m;
};
DECODERS[MSG.windowAdjust] = (body) => {
  const r = new BodyReader(body, 'window-adjust');
  const m = { type: 'window-adjust', stream: r.stream(), bytes: r.u32('bytes') } as const;
  r.end();
  return m;
};
DECODERS[MSG.windowChange] = (body) => {
  const r = new BodyReader(body, 'window-change');
  const m = { type: 'window-change', cols: r.u16('cols'), rows: r.u16('rows') } as const;
  r.end();
  return m;
};
DECODERS[MSG.signal] = (body) => {
  const r = new BodyReader(body, 'signal');
  const m = { type: 'signal', name: r.str(RULES.signal) } as const;
  r.end();
  return m;
};
DECODERS[MSG.exitStatus] = decodeExitStatus;
DECODERS[MSG.ping] = (body) => {
  const r = new BodyReader(body, 'ping');
  const m = { type: 'ping', cookie: r.u32('cookie') } as const;
  r.end();
  return m;
};
DECODERS[MSG.pong] = (body) => {
  const r = new BodyReader(body, 'pong');
  const m = { type: 'pong', cookie: r.u32('cookie') } as const;
  r.end();
  return m;
};
DECODERS[MSG.error] = (body) => {
  const r = new BodyReader(body, 'error');
  const m = { type: 'error', code: r.str(RULES.errorCode), message: r.str(RULES.errorMessage) } as const;
  r.end();
  return m;
};

/** One complete frame body (type byte first) to its message; the tlssh/2+mux codec reuses it. */
export function decodeBody(body: Buffer): Message {
  const type = body[0] as number;
  const decode = DECODERS[type];
  if (decode === undefined) {
    throw new TlsshError('TLSSH_ERR_FRAME_UNKNOWN_TYPE', `unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  }
  return decode(body);
}

/**
 * Turns a byte stream into messages. Partial frames are kept across push() calls; a frame body
 * that spans chunks is copied once into a buffer of its exact size, allocated only after the
 * length header has been checked against the limit. Except data: a data frame that spans chunks
 * (its frames rarely line up with TLS records, which are at most 16 KiB) is passed on in parts,
 * one data message per chunk, each a view of its chunk, so bulk bytes are never copied here.
 * Data is a byte stream: where one data message ends and the next begins means nothing.
 *
 * push() takes ownership of the chunk: the messages it returns may be views of it, so the caller
 * must not modify or reuse a chunk after pushing it (socket 'data' chunks are never reused).
 *
 * After any error the decoder is poisoned and every later call throws that same error, so a
 * connection cannot resynchronise on attacker-chosen bytes.
 */
export class MessageDecoder {
  private readonly frames: FrameReader<Message>;
  /** The data frame being passed on in parts, or null. */
  private part: { stream: StreamId; remaining: number; received: number } | null = null;
  private failure: TlsshError | null = null;

  constructor(opts: { maxFrameBody?: number } = {}) {
    const max = opts.maxFrameBody ?? LIMITS.maxFrameBody;
    if (!Number.isInteger(max) || max < 1 || max > U32_MAX) {
      throw new TlsshError('TLSSH_ERR_INTERNAL', `maxFrameBody must be an integer in 1..${U32_MAX}`);
    }
    this.frames = new FrameReader(max, decodeBody, (chunk, off, len, out) => this.startPart(chunk, off, len, out));
  }

  /** Bytes of an incomplete frame held back, waiting for more input. */
  get buffered(): number {
    if (this.part !== null) return HEADER + this.part.received;
    return this.frames.buffered;
  }

  push(chunk: Buffer): Message[] {
    if (this.failure !== null) throw this.failure;
    try {
      return this.consume(chunk);
    } catch (e) {
      this.failure = decoderFailure(e);
      this.frames.drop();
      throw this.failure;
    }
  }

  /** Call at end of input: a half-received frame means the peer or the connection broke off. */
  finish(): void {
    if (this.failure !== null) throw this.failure;
    if (this.buffered > 0) {
      this.failure = truncatedAtEnd(this.buffered);
      throw this.failure;
    }
  }

  private consume(chunk: Buffer): Message[] {
    const out: Message[] = [];
    let off = 0;
    if (this.part !== null) {
      const part = this.part;
      const n = Math.min(part.remaining, chunk.length);
      if (n > 0) out.push({ type: 'data', stream: part.stream, data: chunk.subarray(0, n) });
      part.remaining -= n;
      part.received += n;
      off = n;
      if (part.remaining > 0) return out;
      this.part = null;
    }
    this.frames.read(chunk, off, out);
    return out;
  }

  /**
   * A frame that did not arrive whole: once its type and stream are here and it is data, check
   * them and the length now and pass its bytes on as they come (consume() takes the rest).
   */
  private startPart(chunk: Buffer, off: number, len: number, out: Message[]): boolean {
    const end = chunk.length;
    if (end - off < 2 || chunk[off] !== MSG.data) return false;
    const head = decodeData(chunk.subarray(off, off + 2));
    if (len - 2 > LIMITS.maxDataChunk) throw malformed(`data: chunk is ${len - 2} bytes, over ${LIMITS.maxDataChunk}`);
    if (end - off > 2) out.push({ type: 'data', stream: head.stream, data: chunk.subarray(off + 2, end) });
    this.part = { stream: head.stream, remaining: len - (end - off), received: end - off };
    return true;
  }
}
