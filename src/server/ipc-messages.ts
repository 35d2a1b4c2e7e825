// Messages between the listener and its workers over the fork() IPC channel. Workers are
// trusted until they drop root, but the listener still validates everything it receives:
// after the drop a worker parses network input as the user.

import { MAX_PREAUTH_BYTES } from './client-hello-framing';
import type { LogSink } from './log';
import type { WorkerConfig } from './worker-config';

/** Listener -> worker, with the client's socket attached. */
export interface ConnectionMessage {
  t: 'connection';
  /** Connection number, for log lines. */
  id: number;
  /** Built by workerConfig(): no passwords, ever. */
  config: WorkerConfig;
  logSink: LogSink;
  /** Socket of the listener's key agent, which signs with the server key (in a TPM or a file) for us. */
  agentSocket?: string;
  /**
   * Base64 of the bytes the listener read while it held the connection (the ClientHello): the
   * worker replays them into its TLS server before anything else from the socket.
   */
  prefix?: string;
  /** The configuration's generation (listener reloads count up): a warm worker set up for it may use what it prepared. */
  generation?: number;
  /** To the fork server only: the number its reply (forked or fork-failed) carries back. */
  ref?: number;
}

/**
 * Listener -> warm worker, before any connection: set up TLS for this configuration now, so the
 * connection handed over later finds its secure context built. The same fields a connection
 * message carries, so no more than that reaches a worker (no passwords).
 */
export interface WarmMessage {
  t: 'warm';
  generation: number;
  config: WorkerConfig;
  logSink: LogSink;
  agentSocket?: string;
}

/** Worker -> listener: the warm-up for `generation` is done; the worker is ready to take a connection. */
export interface WarmedMessage {
  t: 'warmed';
  generation: number;
}

/** Worker -> listener: the session request passed every check; MaxStartups stops counting it. */
export interface AuthenticatedMessage {
  t: 'authenticated';
  user: string;
}

/** Worker -> listener: a PTY session started on `line`; write the login records. */
export interface LoginMessage {
  t: 'login';
  line: string;
}

/**
 * Worker -> listener: the PTY session on `line` ended while the worker goes on (one session of a
 * shared connection); close its login record. A worker (the user by then) can only end records
 * of its own pid early.
 */
export interface LogoutMessage {
  t: 'logout';
  line: string;
}

/**
 * Worker -> listener, sent as root right before the privilege drop: a PAM session is open for the
 * authenticated user; the listener closes it when the worker ends. A worker that sends it later,
 * as the user, can at most have its own user's session "closed" again.
 */
export interface PamSessionMessage {
  t: 'pam-session';
}

/** Worker -> listener: a pre-forked worker finished starting and can take a connection. */
export interface ReadyMessage {
  t: 'ready';
}

/**
 * Worker -> listener: why this connection should count against its source (PerSourcePenalties).
 * Sent before the worker ends; the listener applies it once the worker has gone.
 */
export interface PenaltyMessage {
  t: 'penalty';
  reason: 'authfail' | 'noauth' | 'grace-exceeded';
}

/**
 * Worker -> listener, once logged in: what `tlsshctl sessions` shows. Sent before the privilege
 * drop, but still validated: the listener only displays it and matches kill requests against it.
 */
export interface SessionInfoMessage {
  t: 'session-info';
  subject: string;
  serial: string;
  fingerprint: string;
  /** ISO 8601, or '' when unknown. */
  notAfter: string;
  /** 'shared': a tlssh/2+mux connection, logged in before any session; each is a mux-session. */
  kind: 'shell' | 'command' | 'subsystem' | 'shared';
  command: string;
  /**
   * Base64 DER of the certificates the client presented, its own first (at most
   * MAX_REPORTED_CHAIN): what a reload checks against the new ClientCRL and CA set.
   */
  chain?: string[];
}

export const MAX_REPORTED_CHAIN = 8;
/** Base64 of a 12 KiB certificate: larger ones are not reported (and so not re-checked). */
export const MAX_CERT_BASE64 = 16 * 1024;

function parseChain(v: unknown): string[] | undefined | false {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_REPORTED_CHAIN) return false;
  for (const c of v) if (typeof c !== 'string' || c.length > MAX_CERT_BASE64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(c)) return false;
  return v as string[];
}

/**
 * Worker -> listener: one session of a shared connection (tlssh/2+mux) started, got its tty, or
 * ended; tlsshctl sessions lists each. `session` is its id on the wire, which a client may use
 * again once that session is closed, even while the old session's process lingers; `serial`
 * numbers the worker's sessions and never repeats, so the report of an old session's end cannot
 * take a new one off the list.
 */
export interface MuxSessionMessage {
  t: 'mux-session';
  session: number;
  serial: number;
  kind: 'shell' | 'command' | 'subsystem';
  command: string;
  tty?: string;
  ended: boolean;
}

/** Worker -> listener, every few seconds while the counts change: the connection's traffic. */
export interface SessionStatsMessage {
  t: 'stats';
  bytesIn: number;
  bytesOut: number;
  /** Milliseconds since the epoch when the client last sent anything. */
  lastInput: number;
}

export type WorkerMessage = AuthenticatedMessage | LoginMessage | LogoutMessage | MuxSessionMessage | ReadyMessage | WarmedMessage | PamSessionMessage | PenaltyMessage | SessionInfoMessage | SessionStatsMessage;

/** Codes a listener may end a session with: tlsshctl kill, or a reload's certificate check. */
export const SESSION_END_CODES = ['TLSSH_ERR_SESSION_KILLED', 'TLSSH_ERR_CERT_REVOKED_IN_SESSION', 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION'] as const;
export type SessionEndCode = (typeof SESSION_END_CODES)[number];

/** Listener -> worker (tlsshctl kill, reload): end the session, telling the client `code` and `message`. */
export interface KillMessage {
  t: 'kill';
  message: string;
  /** Absent: TLSSH_ERR_SESSION_KILLED. */
  code?: SessionEndCode;
}

export function parseKillMessage(v: unknown): KillMessage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['t'] !== 'kill' || typeof o['message'] !== 'string' || o['message'].length > 512) return undefined;
  const code = o['code'];
  if (code === undefined) return { t: 'kill', message: o['message'] };
  const known = SESSION_END_CODES.find((c) => c === code);
  return known ? { t: 'kill', message: o['message'], code: known } : undefined;
}

const isShortString = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Exit status of a worker that could not set up TLS (a server-side problem, such as an unreadable
 * key): not the client's doing, so no crash penalty for its source. An uncaught error exits 1.
 */
export const WORKER_EXIT_SETUP_FAILED = 3;

/** argv marker that makes worker-main.js the fork server (WorkerForkServer yes; fork-server.ts). */
export const FORK_SERVER_ARG = '--tlsshd-fork-server';

/** Longest base64 prefix a connection message may carry (MAX_PREAUTH_BYTES, encoded). */
const MAX_PREFIX_BASE64 = Math.ceil(MAX_PREAUTH_BYTES / 3) * 4;

export function isConnectionMessage(v: unknown): v is ConnectionMessage {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o['t'] === 'connection' && typeof o['id'] === 'number' && typeof o['config'] === 'object' && o['config'] !== null
    && (o['logSink'] === 'stderr' || o['logSink'] === 'syslog' || o['logSink'] === 'file')
    && (o['agentSocket'] === undefined || typeof o['agentSocket'] === 'string')
    && (o['prefix'] === undefined
      || (typeof o['prefix'] === 'string' && o['prefix'].length <= MAX_PREFIX_BASE64 && /^[A-Za-z0-9+/]*={0,2}$/.test(o['prefix'])))
    && (o['generation'] === undefined || isCount(o['generation']))
    && (o['ref'] === undefined || isCount(o['ref']));
}

export function isWarmMessage(v: unknown): v is WarmMessage {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o['t'] === 'warm' && isCount(o['generation']) && typeof o['config'] === 'object' && o['config'] !== null
    && (o['logSink'] === 'stderr' || o['logSink'] === 'syslog' || o['logSink'] === 'file')
    && (o['agentSocket'] === undefined || typeof o['agentSocket'] === 'string');
}

export function parseWorkerMessage(v: unknown): WorkerMessage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['t'] === 'authenticated' && typeof o['user'] === 'string' && o['user'].length <= 64) {
    return { t: 'authenticated', user: o['user'] };
  }
  if (o['t'] === 'ready') return { t: 'ready' };
  if (o['t'] === 'warmed' && isCount(o['generation'])) return { t: 'warmed', generation: o['generation'] };
  if (o['t'] === 'pam-session') return { t: 'pam-session' };
  if (o['t'] === 'penalty' && (o['reason'] === 'authfail' || o['reason'] === 'noauth' || o['reason'] === 'grace-exceeded')) {
    return { t: 'penalty', reason: o['reason'] };
  }
  if (o['t'] === 'session-info' && isShortString(o['subject'], 1024) && isShortString(o['serial'], 128) && /^[0-9A-F]*$/.test(o['serial'])
    && isShortString(o['fingerprint'], 128) && /^[0-9A-F:]*$/.test(o['fingerprint']) && isShortString(o['notAfter'], 40)
    && (o['kind'] === 'shell' || o['kind'] === 'command' || o['kind'] === 'subsystem' || o['kind'] === 'shared') && isShortString(o['command'], 4096)) {
    const chain = parseChain(o['chain']);
    if (chain === false) return undefined;
    return {
      t: 'session-info', subject: o['subject'], serial: o['serial'], fingerprint: o['fingerprint'], notAfter: o['notAfter'], kind: o['kind'], command: o['command'],
      ...(chain ? { chain } : {}),
    };
  }
  if (o['t'] === 'stats' && isCount(o['bytesIn']) && isCount(o['bytesOut']) && isCount(o['lastInput'])) {
    return { t: 'stats', bytesIn: o['bytesIn'], bytesOut: o['bytesOut'], lastInput: o['lastInput'] };
  }
  if (o['t'] === 'login' && typeof o['line'] === 'string' && /^pts\/\d{1,6}$/.test(o['line'])) {
    return { t: 'login', line: o['line'] };
  }
  if (o['t'] === 'mux-session' && typeof o['session'] === 'number' && Number.isInteger(o['session']) && o['session'] >= 1 && o['session'] <= 0xffffffff
    && typeof o['serial'] === 'number' && Number.isSafeInteger(o['serial']) && o['serial'] >= 1
    && (o['kind'] === 'shell' || o['kind'] === 'command' || o['kind'] === 'subsystem') && isShortString(o['command'], 4096)
    && (o['tty'] === undefined || (typeof o['tty'] === 'string' && /^pts\/\d{1,6}$/.test(o['tty']))) && typeof o['ended'] === 'boolean') {
    return { t: 'mux-session', session: o['session'], serial: o['serial'], kind: o['kind'], command: o['command'], ...(o['tty'] !== undefined ? { tty: o['tty'] } : {}), ended: o['ended'] };
  }
  if (o['t'] === 'logout' && typeof o['line'] === 'string' && /^pts\/\d{1,6}$/.test(o['line'])) {
    return { t: 'logout', line: o['line'] };
  }
  return undefined;
}

/** Fork server -> listener (fork-server.ts). `exited` is the fork server's waitpid() of one of its workers. */
export type ForkServerMessage =
  | ReadyMessage
  | WarmedMessage
  | { t: 'forked'; ref: number; pid: number }
  | { t: 'fork-failed'; ref: number; why: string }
  | { t: 'exited'; pid: number; code: number | null; signal: string | null };

export function parseForkServerMessage(v: unknown): ForkServerMessage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['t'] === 'ready') return { t: 'ready' };
  if (o['t'] === 'warmed' && isCount(o['generation'])) return { t: 'warmed', generation: o['generation'] };
  if (o['t'] === 'forked' && isCount(o['ref']) && isCount(o['pid']) && o['pid'] > 1) return { t: 'forked', ref: o['ref'], pid: o['pid'] };
  if (o['t'] === 'fork-failed' && isCount(o['ref']) && isShortString(o['why'], 512)) return { t: 'fork-failed', ref: o['ref'], why: o['why'] };
  if (o['t'] === 'exited' && isCount(o['pid']) && (o['code'] === null || isCount(o['code']))
    && (o['signal'] === null || (typeof o['signal'] === 'string' && /^SIG[A-Z0-9]{1,10}$/.test(o['signal'])))) {
    return { t: 'exited', pid: o['pid'], code: o['code'] as number | null, signal: o['signal'] as string | null };
  }
  return undefined;
}

/** Listener -> fork server, with one end of a socketpair attached: the line of the worker forked for connection `ref`. */
export interface LineMessage {
  t: 'line';
  ref: number;
}

export function parseLineMessage(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  return o['t'] === 'line' && isCount(o['ref']) ? o['ref'] : undefined;
}
