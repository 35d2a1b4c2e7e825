// The control socket's protocol (doc/CONTROL.md), without I/O: one JSON object per line each
// way, versioned by "v". Requests come from root only (the socket is 0600 in a 0700 RuntimeDir),
// but they are still parsed as hostile: a bad one gets an error reply and changes nothing.

export const CONTROL_VERSION = 1;
/** Longest request line, newline excluded; a longer one is refused and the connection closed. */
export const MAX_CONTROL_LINE = 64 * 1024;
export const CONTROL_SOCKET_NAME = 'control.sock';

export type KillTarget = { by: 'id'; id: number } | { by: 'user'; user: string } | { by: 'serial'; serial: string };

export type ControlRequest =
  | { op: 'sessions' }
  | { op: 'status' }
  | { op: 'reload' }
  | { op: 'kill'; target: KillTarget; message: string };

/** Error codes of the control protocol (stable; tlsshctl and scripts test them). */
export type ControlErrorCode = 'bad-json' | 'bad-request' | 'bad-version' | 'unknown-op' | 'too-long' | 'no-such-session' | 'reload-failed' | 'internal';

export interface SessionView {
  id: number;
  /** The session's id within a shared connection (tlssh/2+mux): one row per session, same `id`. */
  session?: number;
  pid: number;
  user: string;
  /** "ADDRESS port PORT" of the client. */
  remote: string;
  /** pts/N for a terminal session, else undefined. */
  tty?: string;
  /** "shell", "command", "subsystem", or "shared" (a shared connection with no session open). */
  kind?: string;
  command?: string;
  subject?: string;
  serial?: string;
  fingerprint?: string;
  /** ISO 8601. */
  notAfter?: string;
  started: string;
  bytesIn: number;
  bytesOut: number;
  /** Seconds since the client last sent anything. */
  idle: number;
  /**
   * Started under an earlier listener (before a restart): listed from what that one recorded;
   * bytesIn, bytesOut and idle are unknown (0).
   */
  adopted?: true;
}

export type ControlReply =
  | { v: 1; ok: true; sessions: SessionView[] }
  /**
   * withoutMessage: sessions of an earlier listener among those killed, when a message other than
   * the default was asked for: no line reaches their workers, so their clients saw the default.
   */
  | { v: 1; ok: true; killed: number[]; withoutMessage?: number[] }
  | { v: 1; ok: true; reloaded: true }
  | { v: 1; ok: true; status: Record<string, unknown> }
  | { v: 1; ok: false; error: ControlErrorCode; message: string };

export function errorReply(error: ControlErrorCode, message: string): ControlReply {
  return { v: 1, ok: false, error, message };
}

/** Default text a killed session's client prints. */
export const DEFAULT_KILL_MESSAGE = 'session ended by the administrator';
const MAX_KILL_MESSAGE = 512;

/** Parses one request line; an error reply when it is not a valid request. */
export function parseControlRequest(line: string): ControlRequest | ControlReply {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return errorReply('bad-json', 'request is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return errorReply('bad-request', 'request is not a JSON object');
  const o = v as Record<string, unknown>;
  if (o['v'] !== CONTROL_VERSION) return errorReply('bad-version', `unsupported protocol version ${JSON.stringify(o['v'] ?? null)}; this tlsshd speaks ${CONTROL_VERSION}`);
  const op = o['op'];
  if (op === 'sessions' || op === 'status' || op === 'reload') return { op };
  if (op !== 'kill') return errorReply('unknown-op', `unknown op ${JSON.stringify(op ?? null).slice(0, 64)}`);
  const message = o['message'] ?? DEFAULT_KILL_MESSAGE;
  if (typeof message !== 'string' || message.length > MAX_KILL_MESSAGE) return errorReply('bad-request', `kill: message must be a string of at most ${MAX_KILL_MESSAGE} characters`);
  const given = ['id', 'user', 'serial'].filter((k) => o[k] !== undefined);
  if (given.length !== 1) return errorReply('bad-request', 'kill: give exactly one of id, user, serial');
  const id = o['id'];
  const user = o['user'];
  const serial = o['serial'];
  if (id !== undefined) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return errorReply('bad-request', 'kill: id must be a positive integer');
    return { op: 'kill', target: { by: 'id', id }, message };
  }
  if (user !== undefined) {
    if (typeof user !== 'string' || user === '' || user.length > 64) return errorReply('bad-request', 'kill: user must be a non-empty name');
    return { op: 'kill', target: { by: 'user', user }, message };
  }
  if (typeof serial !== 'string' || !/^[0-9A-Fa-f:]{1,128}$/.test(serial)) return errorReply('bad-request', 'kill: serial must be hexadecimal');
  return { op: 'kill', target: { by: 'serial', serial: normaliseSerial(serial) }, message };
}

/** Serials compare as upper-case hex without colons or leading zeros. */
export function normaliseSerial(s: string): string {
  return s.replace(/:/g, '').toUpperCase().replace(/^0+(?=.)/, '');
}

export function isControlReply(v: unknown): v is ControlReply {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o['v'] === CONTROL_VERSION && typeof o['ok'] === 'boolean';
}
