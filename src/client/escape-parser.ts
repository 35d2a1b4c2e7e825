// The `~` escape sequences of an interactive session, as a pure state machine over keyboard
// bytes: no I/O, so it can be driven byte by byte in tests. Semantics follow ssh(1): the escape
// character counts only at the start of input or right after CR or LF, so a `~` typed in the
// middle of a line (a path, a URL) always reaches the remote side untouched.

import { TlsshError } from '../errors';

export type EscapeAction = 'disconnect' | 'help' | 'suspend';

export type EscapeEvent = { kind: 'data'; data: Buffer } | { kind: 'action'; action: EscapeAction };

const CTRL_Z = 0x1a;
const CR = 0x0d;
const LF = 0x0a;

/** The byte following the escape character, and what it asks for. */
const ACTIONS: ReadonlyMap<number, EscapeAction> = new Map([
  [0x2e /* . */, 'disconnect'],
  [0x3f /* ? */, 'help'],
  [CTRL_Z, 'suspend'],
]);

export class EscapeParser {
  private readonly escape: number;
  /** True at the start of input and after CR or LF: the only places an escape may begin. */
  private atLineStart = true;
  /** The escape character was seen and is held back until the next byte decides its fate. */
  private pending = false;

  constructor(escapeChar: number) {
    this.escape = escapeChar;
  }

  /**
   * Splits a chunk of keyboard input into bytes for the remote side and local actions, in the
   * order typed. An escape character at the end of a chunk is held until the next chunk.
   */
  push(chunk: Buffer): EscapeEvent[] {
    const events: EscapeEvent[] = [];
    const out: number[] = [];
    const flush = (): void => {
      if (out.length > 0) events.push({ kind: 'data', data: Buffer.from(out) });
      out.length = 0;
    };
    for (const byte of chunk) {
      if (this.pending) {
        this.pending = false;
        const action = ACTIONS.get(byte);
        if (action) {
          flush();
          events.push({ kind: 'action', action });
          // Still at the start of a line: `~?` then `~.` works without pressing Enter between.
          continue;
        }
        // `~~` sends one `~`; anything unrecognised sends the escape and the byte, as typed.
        if (byte !== this.escape) out.push(this.escape);
      } else if (this.atLineStart && byte === this.escape) {
        this.pending = true;
        continue;
      }
      out.push(byte);
      this.atLineStart = byte === CR || byte === LF;
    }
    flush();
    return events;
  }
}

/**
 * Reads an EscapeChar value: "none" (escapes off, null), one character, or "^X" control
 * notation, as ssh accepts them.
 */
export function parseEscapeChar(value: string): number | null {
  if (value === 'none') return null;
  if (value.length === 2 && value[0] === '^') return value.charCodeAt(1) & 0x1f;
  if (value.length === 1 && value.charCodeAt(0) < 0x80) return value.charCodeAt(0);
  throw new TlsshError('TLSSH_ERR_USAGE', `bad escape character "${value}": use one character, ^X, or none`);
}

/** The escape character as a person would type it: "~", or "^]" for a control character. */
export function showEscapeChar(escapeChar: number): string {
  if (escapeChar < 0x20) return `^${String.fromCharCode(escapeChar + 0x40)}`;
  if (escapeChar === 0x7f) return '^?';
  return String.fromCharCode(escapeChar);
}

/** The `~?` help text, one entry per line, for the escape character in use. */
export function escapeHelp(escapeChar: number, shared = false): string[] {
  const e = showEscapeChar(escapeChar);
  return [
    // As ssh: the escape typed is shown first, since the terminal is raw and echoed none of it.
    `${e}?`,
    'Supported escape sequences:',
    // A session through a connection-sharing master: ~. ends it, never the master's connection.
    shared ? ` ${e}.   - terminate session (the shared connection stays)` : ` ${e}.   - terminate connection`,
    ` ${e}^Z  - suspend tlssh`,
    ` ${e}?   - this message`,
    ` ${e}${e}   - send the escape character by typing it twice`,
    '(Note that escapes are only recognized immediately after newline.)',
  ];
}
