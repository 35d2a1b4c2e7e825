// The end of the client's stdin, on a PTY, as a terminal user would give it: the terminal's EOF
// character (VEOF, normally ^D). A terminal has no end of file of its own, so without this
// `tlssh -tt host cat < file` would never end.
//
// In canonical mode VEOF ends input only at the start of a line: after a partial line it hands
// that line to the reader, and a second VEOF is the end of file. So the bytes depend on the last
// byte sent and on the terminal's modes, read with `stty -g` (Node has no tcgetattr, and this
// runs once per session at most).

import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';

/** Linux's termios, as far as it matters here (asm-generic/termbits.h). */
const VEOF = 4;
const VEOL = 11;
const VEOL2 = 16;
const ICANON = 0o2;
const IGNCR = 0o200;
const ICRNL = 0o400;
const CTRL_D = 0x04;
/** _POSIX_VDISABLE on Linux: the character is switched off. */
const DISABLED = 0;

export interface TerminalModes {
  /** The EOF character, or null when switched off. */
  veof: number | null;
  canonical: boolean;
  /** Bytes after which the line discipline is at the start of a line. */
  lineEnds: ReadonlySet<number>;
}

/** Modes assumed when they cannot be read: a fresh terminal's (stty sane). */
export const DEFAULT_MODES: TerminalModes = { veof: CTRL_D, canonical: true, lineEnds: new Set([0x0a, 0x0d]) };

/** Parses Linux `stty -g` output: iflag:oflag:cflag:lflag:cc0:cc1:… in hex. */
export function parseSttyG(text: string): TerminalModes | undefined {
  const fields = text.trim().split(':');
  if (fields.length < 4 + VEOL2 + 1 || !fields.every((f) => /^[0-9a-f]{1,8}$/i.test(f))) return undefined;
  const n = fields.map((f) => parseInt(f, 16));
  const iflag = n[0]!;
  const lflag = n[3]!;
  const cc = (i: number): number => n[4 + i]!;
  const lineEnds = new Set<number>([0x0a]);
  if ((iflag & ICRNL) !== 0 && (iflag & IGNCR) === 0) lineEnds.add(0x0d);
  for (const c of [cc(VEOL), cc(VEOL2)]) if (c !== DISABLED) lineEnds.add(c);
  const veof = cc(VEOF) === DISABLED ? null : cc(VEOF);
  if (veof !== null) lineEnds.add(veof);
  return { veof, canonical: (lflag & ICANON) !== 0, lineEnds };
}

/** What to write so that the reader sees end of file, given the last byte written (or none). */
export function eofBytes(modes: TerminalModes, lastByte: number | undefined): Buffer {
  if (modes.veof === null) return Buffer.alloc(0);
  const atLineStart = lastByte === undefined || modes.lineEnds.has(lastByte);
  // Non-canonical: the program reads bytes; one ^D is what a user would type.
  const count = modes.canonical && !atLineStart ? 2 : 1;
  return Buffer.alloc(count, modes.veof);
}

/** The terminal's modes now, or the defaults when stty cannot tell. */
export function readModes(ttyPath: string): Promise<TerminalModes> {
  return new Promise((resolve) => {
    execFile('stty', ['-F', ttyPath, '-g'], { timeout: 5000, env: { PATH: '/usr/bin:/bin' } }, (err, stdout) => {
      resolve((!err && parseSttyG(stdout)) || DEFAULT_MODES);
    });
  });
}

/**
 * A stdin destination for a PTY: passes bytes to `input` and, when ended (the client's eof),
 * writes the terminal's EOF character as the terminal would need it. `input` itself stays open.
 */
export function ptyStdin(input: Writable, ttyPath: string, onEof?: (bytes: Buffer) => void): Writable {
  let lastByte: number | undefined;
  return new Writable({
    write: (chunk: Buffer, _enc, callback) => {
      if (chunk.length === 0) return callback();
      lastByte = chunk[chunk.length - 1];
      input.write(chunk, () => callback());
    },
    // Called once every earlier write has reached the terminal, so the EOF comes after them.
    final: (callback) => {
      void readModes(ttyPath).then((modes) => {
        const bytes = eofBytes(modes, lastByte);
        onEof?.(bytes);
        if (bytes.length === 0 || input.destroyed || input.writableEnded) return callback();
        input.write(bytes, () => callback());
      });
    },
  });
}
