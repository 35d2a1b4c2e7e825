// The local terminal during an interactive session: raw mode in, raw mode out, suspend, and the
// window size. Raw mode is always undone through the exit guards, whatever ends tlssh.

import { spawnSync } from 'node:child_process';
import * as tty from 'node:tty';
import { onExitCleanup } from './exit-guards';
import { setRawOutput } from './stderr-log';

export interface WindowSize {
  cols: number;
  rows: number;
}

export class LocalTerminal {
  private readonly input: tty.ReadStream;
  private raw = false;
  private unregister: (() => void) | undefined;

  constructor(input: tty.ReadStream) {
    this.input = input;
  }

  get isRaw(): boolean {
    return this.raw;
  }

  enterRaw(): void {
    if (this.raw) return;
    this.unregister = onExitCleanup(() => this.restore());
    this.input.setRawMode(true);
    // Node's raw mode leaves output post-processing on, so a bare LF from a full-screen program
    // would gain a CR and move the cursor to column 0. ssh turns it off; so must we, and only
    // stty can reach that termios flag from here. setRawMode(false) puts it back.
    spawnSync('stty', ['-opost'], { stdio: [0, 'ignore', 'ignore'] });
    this.raw = true;
    setRawOutput(true);
  }

  /** Back to the modes tlssh started with. Safe to call any number of times, from any exit path. */
  restore(): void {
    if (!this.raw) return;
    this.raw = false;
    setRawOutput(false);
    this.unregister?.();
    this.unregister = undefined;
    try {
      this.input.setRawMode(false);
    } catch {
      // The terminal is gone (hangup); there is nothing left to restore.
    }
  }

  /**
   * ~^Z: give the terminal back to the shell, stop, and resume raw mode once continued. Resuming
   * on SIGCONT rather than after kill() returns means raw mode never comes back while stopped.
   */
  suspend(onResume: () => void): void {
    this.restore();
    this.input.pause();
    process.once('SIGCONT', () => {
      refreshWindowSize();
      this.enterRaw();
      this.input.resume();
      onResume();
    });
    process.kill(process.pid, 'SIGTSTP');
  }
}

/**
 * The size of the terminal tlssh runs in: from stdout, else stderr, else stdin (as in
 * `tlssh -t host cmd > file`); 0x0 when none of them is a terminal (`-tt` from a script), as ssh
 * sends: programs then know there is no real screen, and nothing is cut at 80 columns.
 */
export function windowSize(): WindowSize {
  if (tty.isatty(1)) return sizeOf(process.stdout);
  if (tty.isatty(2)) return sizeOf(process.stderr);
  if (tty.isatty(0)) {
    const ws = new tty.WriteStream(0);
    try {
      return sizeOf(ws);
    } finally {
      ws.destroy();
    }
  }
  return { cols: 0, rows: 0 };
}

function sizeOf(stream: tty.WriteStream): WindowSize {
  const [cols, rows] = stream.getWindowSize();
  return { cols: Math.max(cols, 0), rows: Math.max(rows, 0) };
}

/**
 * Reads the window size from the kernel again. Node's stdout and stderr keep the size of their
 * last SIGWINCH, and a window resized while tlssh was stopped (~^Z) sent its SIGWINCH to the job
 * in the foreground then, the user's shell. A changed size emits 'resize', as a SIGWINCH would.
 */
export function refreshWindowSize(): void {
  for (const stream of [process.stdout, process.stderr]) {
    // Node's own refresh, the one its SIGWINCH handler calls; absent from the typings.
    const refresh = (stream as tty.WriteStream & { _refreshSize?: () => void })._refreshSize;
    if (stream.isTTY && typeof refresh === 'function') refresh.call(stream);
  }
}

/** Calls `listener` with the new size whenever the local window changes; returns an unsubscribe. */
export function onWindowChange(listener: (size: WindowSize) => void): () => void {
  // stdout and stderr refresh their cached size on SIGWINCH and emit 'resize'; a bare stdin
  // terminal has no such stream, so it is asked afresh on the signal itself.
  const source = tty.isatty(1) ? process.stdout : tty.isatty(2) ? process.stderr : undefined;
  if (source) {
    const handler = (): void => listener(sizeOf(source));
    source.on('resize', handler);
    return () => source.removeListener('resize', handler);
  }
  const handler = (): void => listener(windowSize());
  process.on('SIGWINCH', handler);
  return () => process.removeListener('SIGWINCH', handler);
}
