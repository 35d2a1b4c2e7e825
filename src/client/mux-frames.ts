// The local protocol between a shared-session client and its master, over the ControlPath Unix
// socket (doc/MUX.md). Pure: bytes in, frames out, no sockets. Every frame is
//   type (1 byte) | length (4 bytes, big-endian) | payload (length bytes, at most 64 KiB)
// Requests and replies carry small JSON objects whose fields are checked here; stream data is raw.
// The socket is reachable only by the master's own uid (and root), but its bytes are still
// treated as hostile: a bad frame ends that one client's connection, never the master.

import { TlsshError } from '../errors';
import { LIMITS, type SessionRequest } from '../protocol/messages';

export const MUX_VERSION = 1;
export const MAX_MUX_PAYLOAD = 64 * 1024;
const HEADER = 5;

export const MUX = {
  // client -> master
  hello: 0x01,
  stdin: 0x02,
  stdinEof: 0x03,
  window: 0x04,
  signal: 0x05,
  answer: 0x06,
  // master -> client
  reply: 0x81,
  stdout: 0x82,
  stderr: 0x83,
  exit: 0x84,
  failure: 0x85,
  ask: 0x86,
} as const;

export type MuxFrameType = (typeof MUX)[keyof typeof MUX];
const KNOWN = new Set<number>(Object.values(MUX));

export interface MuxFrame {
  type: MuxFrameType;
  payload: Buffer;
}

export function encodeFrame(type: MuxFrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  if (body.length > MAX_MUX_PAYLOAD) throw new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', `frame of ${body.length} bytes is over ${MAX_MUX_PAYLOAD}`);
  const head = Buffer.allocUnsafe(HEADER);
  head[0] = type;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export function encodeJson(type: MuxFrameType, value: unknown): Buffer {
  return encodeFrame(type, JSON.stringify(value));
}

/** Splits a byte stream into frames; throws TLSSH_ERR_CONTROL_PROTOCOL at the first bad one. */
export class MuxDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): MuxFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: MuxFrame[] = [];
    while (this.buf.length >= HEADER) {
      const type = this.buf[0]!;
      const length = this.buf.readUInt32BE(1);
      if (!KNOWN.has(type)) throw new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', `unknown frame type 0x${type.toString(16)}`);
      // Checked before waiting for the body, so a huge length cannot make us buffer it.
      if (length > MAX_MUX_PAYLOAD) throw new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', `frame of ${length} bytes is over ${MAX_MUX_PAYLOAD}`);
      if (this.buf.length < HEADER + length) break;
      frames.push({ type: type as MuxFrameType, payload: this.buf.subarray(HEADER, HEADER + length) });
      this.buf = this.buf.subarray(HEADER + length);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still held. */
  get pending(): number {
    return this.buf.length;
  }
}

// ---- typed payloads ----

export type MuxOperation = 'session' | 'check' | 'exit' | 'stop';

export interface MuxSessionRequest {
  command: string;
  subsystem: boolean;
  pty: boolean;
  term: string;
  cols: number;
  rows: number;
  env: Array<[string, string]>;
  /** The client terminal's modes (tlssh/3); absent: none. */
  modes?: Array<[number, number]>;
}

/**
 * The tlssh/2 session-request a shared session sends for `req`, whichever way the master reaches
 * the server (one connection per session or a multiplexed one): both must ask the same. A client
 * may pass more env entries than the server takes; the extra ones are dropped, as a direct client
 * drops them.
 */
export function sessionRequestFor(user: string, req: MuxSessionRequest): SessionRequest {
  return {
    type: 'session-request',
    user,
    command: req.command,
    ...(req.subsystem ? { subsystem: true } : {}),
    pty: req.pty,
    term: req.term,
    cols: req.cols,
    rows: req.rows,
    env: req.env.slice(0, LIMITS.maxEnvEntries),
    ...(req.modes ? { modes: req.modes } : {}),
  };
}

export interface MuxHello {
  v: number;
  op: MuxOperation;
  session?: MuxSessionRequest;
  /**
   * The token the client that started this master gave it: that client's own session is not
   * put to ControlMaster ask's confirmation, as ssh's master never asks about its own.
   */
  own?: string;
}

export type MuxReply = { ok: true; pid: number } | { ok: false; code: string; message: string };

export interface MuxExit {
  code: number | null;
  signal: string | null;
}

export interface MuxFailure {
  code: string;
  message: string;
}

function bad(what: string): TlsshError {
  return new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', what);
}

function parseObject(payload: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw bad(`${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;

export function parseHello(payload: Buffer): MuxHello {
  const o = parseObject(payload, 'hello');
  if (o['v'] !== MUX_VERSION) throw bad(`hello: version ${JSON.stringify(o['v'])}, this master speaks ${MUX_VERSION}`);
  const op = o['op'];
  if (op !== 'session' && op !== 'check' && op !== 'exit' && op !== 'stop') throw bad('hello: unknown op');
  if (op !== 'session') return { v: MUX_VERSION, op };
  const own = o['own'];
  if (own !== undefined && (typeof own !== 'string' || !/^[0-9a-f]{32}$/.test(own))) throw bad('hello: malformed token');
  const s = o['session'];
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw bad('hello: no session');
  const r = s as Record<string, unknown>;
  const env = r['env'];
  if (
    !isText(r['command'], 32 * 1024) || typeof r['subsystem'] !== 'boolean' || typeof r['pty'] !== 'boolean' ||
    !isText(r['term'], 256) || !isSize(r['cols']) || !isSize(r['rows']) || !Array.isArray(env) || env.length > 256
  ) {
    throw bad('hello: malformed session request');
  }
  for (const pair of env) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isText(pair[0], 256) || !isText(pair[1], 8192)) throw bad('hello: malformed environment');
  }
  const modes = r['modes'];
  if (modes !== undefined) {
    if (!Array.isArray(modes) || modes.length > LIMITS.maxTtyModes) throw bad('hello: malformed terminal modes');
    for (const m of modes) {
      const ok = Array.isArray(m) && m.length === 2 && Number.isInteger(m[0]) && m[0] >= 1 && m[0] <= LIMITS.maxTtyOpcode && Number.isInteger(m[1]) && m[1] >= 0 && m[1] <= 0xffffffff;
      if (!ok) throw bad('hello: malformed terminal modes');
    }
  }
  return {
    v: MUX_VERSION,
    op,
    session: {
      command: r['command'], subsystem: r['subsystem'], pty: r['pty'], term: r['term'], cols: r['cols'], rows: r['rows'],
      env: env as Array<[string, string]>,
      ...(modes !== undefined ? { modes: modes as Array<[number, number]> } : {}),
    },
    ...(own !== undefined ? { own } : {}),
  };
}

export function parseReply(payload: Buffer): MuxReply {
  const o = parseObject(payload, 'reply');
  if (o['ok'] === true && typeof o['pid'] === 'number') return { ok: true, pid: o['pid'] };
  if (o['ok'] === false && isText(o['code'], 64) && isText(o['message'], 4096)) return { ok: false, code: o['code'], message: o['message'] };
  throw bad('malformed reply');
}

export function parseExit(payload: Buffer): MuxExit {
  const o = parseObject(payload, 'exit');
  const code = o['code'];
  const signal = o['signal'];
  const codeOk = code === null || (typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 255);
  const signalOk = signal === null || (typeof signal === 'string' && /^[A-Z0-9]{1,16}$/.test(signal));
  if (!codeOk || !signalOk || (code === null) === (signal === null)) throw bad('malformed exit status');
  return { code: code as number | null, signal: signal as string | null };
}

export function parseFailure(payload: Buffer): MuxFailure {
  const o = parseObject(payload, 'failure');
  if (!isText(o['code'], 64) || !isText(o['message'], 4096)) throw bad('malformed failure');
  return { code: o['code'], message: o['message'] };
}

export function encodeWindow(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(Math.min(cols, 0xffff), 0);
  b.writeUInt16BE(Math.min(rows, 0xffff), 2);
  return encodeFrame(MUX.window, b);
}

export function parseWindow(payload: Buffer): { cols: number; rows: number } {
  if (payload.length !== 4) throw bad('window frame is not 4 bytes');
  return { cols: payload.readUInt16BE(0), rows: payload.readUInt16BE(2) };
}

/** Signals a client may pass on: what ssh's clients send (INT, TERM, ...); by name, like tlssh/2. */
const SIGNALS = new Set(['INT', 'TERM', 'HUP', 'QUIT', 'KILL', 'USR1', 'USR2', 'PIPE', 'ALRM']);

export function parseSignal(payload: Buffer): string {
  const name = payload.toString('latin1');
  if (!SIGNALS.has(name)) throw bad(`signal ${JSON.stringify(name.slice(0, 20))} is not one a client may send`);
  return name;
}
