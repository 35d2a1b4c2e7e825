// Daemon logging. In the foreground (-f) lines go to stderr. Otherwise they go to syslog through
// ONE long-lived `logger --prio-prefix` process per daemon: the listener writes to its stdin and
// hands the same pipe to every worker as the worker's stderr, so a login costs no extra process
// and sessions keep logging after the listener is gone (the pipe lives while anyone holds it).
// Each line is one write(2) well under PIPE_BUF, so lines from many processes never interleave.
// With LogFile set, lines are appended to that file instead (O_APPEND: each write lands whole at
// the end), through a descriptor the listener opens and hands to every worker as its stderr, so
// a worker that is no longer root still writes to a file only root may open.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ServerConfig } from '../config/types';
import { terminalSafe } from '../terminal-safe-text';

export type LogLevel = ServerConfig['LogLevel'];
export type LogSink = 'stderr' | 'syslog' | 'file';

const RANK: Record<LogLevel, number> = { QUIET: 0, ERROR: 1, INFO: 2, VERBOSE: 3, DEBUG: 4 };
const SEVERITY = { ERROR: 3, INFO: 6, VERBOSE: 6, DEBUG: 7 } as const;
type MessageLevel = keyof typeof SEVERITY;

const FACILITY: Record<string, number> = {
  KERN: 0, USER: 1, MAIL: 2, DAEMON: 3, AUTH: 4, SYSLOG: 5, LPR: 6, NEWS: 7, UUCP: 8, CRON: 9, AUTHPRIV: 10, FTP: 11,
  LOCAL0: 16, LOCAL1: 17, LOCAL2: 18, LOCAL3: 19, LOCAL4: 20, LOCAL5: 21, LOCAL6: 22, LOCAL7: 23,
};

export function facilityNumber(name: string): number {
  return FACILITY[name.toUpperCase()] ?? FACILITY['AUTHPRIV']!;
}

const MAX_LINE = 1000;

/** Bytes from the network end up in messages (CNs, user names); never let them forge lines. */
export function sanitize(s: string): string {
  const clean = terminalSafe(s);
  return clean.length > MAX_LINE ? `${clean.slice(0, MAX_LINE)}...` : clean;
}

export interface LoggerOptions {
  level: LogLevel;
  sink: LogSink;
  facility: string;
  /** Where lines go; defaults to `fd`. */
  write?: (line: string) => void;
  /** Descriptor lines are written to; defaults to 2 (a worker's stderr is the log's pipe or file). */
  fd?: number;
}

/** A file system error as a few words an administrator can act on. */
export function fileProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  return code === 'EACCES' ? 'permission denied' : code === 'ENOENT' ? 'no such directory' : code === 'ELOOP' ? 'it is a symbolic link' : code;
}

/**
 * Opens LogFile for appending, creating it private: log lines name users and addresses. Never
 * through a symlink: in a directory others can write, one would make root append to any file.
 */
export function openLogFile(file: string): number {
  try {
    return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw logFileError(file, fileProblem(e), e);
  }
}

function logFileError(file: string, why: string, cause?: unknown): Error {
  return new Error(`${file}: cannot open for logging: ${why} (LogFile)`, { cause });
}

/** tlsshd -t: throws what openLogFile would, without creating the file. */
export function logFileProblem(file: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw logFileError(file, fileProblem(e), e);
  }
  if (st?.isSymbolicLink()) throw logFileError(file, 'it is a symbolic link');
  if (!st && !fs.existsSync(path.dirname(path.resolve(file)))) throw logFileError(file, 'no such directory');
}

/** Where syslog(3) sends lines; `logger` uses the same socket. */
export const SYSLOG_SOCKET = '/dev/log';

/** Why nothing could receive syslog lines on this host, or undefined when /dev/log is a socket. */
export function syslogSocketProblem(socket: string = SYSLOG_SOCKET): string | undefined {
  try {
    return fs.statSync(socket).isSocket() ? undefined : `${socket} is not a socket`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no syslog socket ${socket}` : `${socket}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
}

export class Logger {
  constructor(private readonly o: LoggerOptions, private readonly prefix = '') {}

  /**
   * A reload's LogLevel and SyslogFacility, and the descriptor of a LogFile opened again, for this
   * logger and every child of it (they share the options).
   */
  reconfigure(next: Partial<Pick<LoggerOptions, 'level' | 'facility' | 'fd'>>): void {
    Object.assign(this.o, next);
  }

  child(prefix: string): Logger {
    return new Logger(this.o, `${this.prefix}${prefix}: `);
  }

  enabled(level: MessageLevel): boolean {
    return RANK[this.o.level] >= RANK[level];
  }

  error(msg: string): void { this.emit('ERROR', msg); }
  info(msg: string): void { this.emit('INFO', msg); }
  verbose(msg: string): void { this.emit('VERBOSE', msg); }
  debug(msg: string): void { this.emit('DEBUG', msg); }

  /** A `debug` callback for lower layers; undefined (free) unless DEBUG is on. */
  debugFn(): ((s: string) => void) | undefined {
    return this.enabled('DEBUG') ? (s: string) => this.debug(s) : undefined;
  }

  private emit(level: MessageLevel, msg: string): void {
    if (!this.enabled(level)) return;
    const text = sanitize(this.prefix + msg);
    const line = this.o.sink === 'syslog'
      ? `<${facilityNumber(this.o.facility) * 8 + SEVERITY[level]}>${text}\n`
      : this.o.sink === 'file'
        ? `${new Date().toISOString()} tlsshd[${process.pid}]: ${text}\n`
        : `tlsshd[${process.pid}]: ${text}\n`;
    try {
      if (this.o.write) this.o.write(line);
      else fs.writeSync(this.o.fd ?? 2, line);
    } catch {
      // A dead log pipe must never take a session down with it.
    }
  }
}
