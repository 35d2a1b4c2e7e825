// tlssh's own lines on stderr: debug output for -v, warnings, and the one failure line.
// Written synchronously so that a line is out before any exit, and with CR LF while the local
// terminal is raw (output post-processing is off then, so a bare LF would not return the carriage).

import { writeSync } from 'node:fs';
import { terminalSafe } from '../terminal-safe-text';

// On the process, not in this module: the client's two bundles each have a copy (exit-guards.ts).
const RAW_KEY = Symbol.for('tlssh.client.raw-output');
const shared = globalThis as Record<symbol, boolean | undefined>;

/** Called by the terminal code whenever raw mode starts or ends. */
export function setRawOutput(raw: boolean): void {
  shared[RAW_KEY] = raw;
}

export function writeStderrLine(line: string): void {
  // Lines may quote what a server or its certificate said; nothing in them reaches the terminal
  // as a control (terminal-safe-text.ts). A usage error is several lines: each is kept.
  const eol = shared[RAW_KEY] === true ? '\r\n' : '\n';
  const text = line.split('\n').map(terminalSafe).join(eol) + eol;
  try {
    writeSync(2, text);
  } catch {
    // stderr closed or full: nowhere left to report to, and no reason to fail the session over it.
  }
}

export interface Log {
  /** Number of -v flags (DEBUG in the config counts as one). */
  readonly verbosity: number;
  /** A `debug` callback for lower layers; undefined when silent so they skip building lines. */
  readonly debug: ((line: string) => void) | undefined;
  /** Finer detail for -vv: every protocol message. */
  readonly debug2: ((line: string) => void) | undefined;
  /** The most detail, for -vvv: every setting with where it came from, the whole server chain. */
  readonly debug3: ((line: string) => void) | undefined;
  /** ssh's "logit" level: shown at LogLevel INFO and above, not with -q or LogLevel ERROR. */
  info(line: string): void;
  /** Non-fatal problems: shown unless LogLevel is QUIET. */
  warn(line: string): void;
  /** Fatal messages: shown unless LogLevel is QUIET. */
  error(line: string): void;
}

export function createLog(verbosity: number, logLevel: string): Log {
  const quiet = logLevel === 'QUIET';
  const level = Math.max(verbosity, logLevel === 'DEBUG' ? 1 : 0);
  const showInfo = level > 0 || logLevel === 'INFO' || logLevel === 'VERBOSE';
  return {
    verbosity: level,
    debug: level > 0 ? (line: string) => writeStderrLine(`debug1: ${line}`) : undefined,
    debug2: level > 1 ? (line: string) => writeStderrLine(`debug2: ${line}`) : undefined,
    debug3: level > 2 ? (line: string) => writeStderrLine(`debug3: ${line}`) : undefined,
    info: (line) => {
      if (showInfo) writeStderrLine(line);
    },
    warn: (line) => {
      if (!quiet) writeStderrLine(line);
    },
    error: (line) => {
      if (!quiet) writeStderrLine(line);
    },
  };
}
