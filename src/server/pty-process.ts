// A command on a pseudo-terminal whose output is read to the very end.
//
// node-pty's UnixTerminal loses the end of the output, for reasons measured here (Node 20,
// libuv 1.46, Linux 6):
// - libuv takes POLLHUP plus a short read as end of file (libuv issue 4992). A Linux PTY master
//   reports POLLHUP as soon as the last slave descriptor closes, while up to ~64 KB may still be
//   in the kernel's buffers: `seq 1 300000` on a PTY came up short by up to 15 KB in a third of
//   the runs.
// - Once the command exits, UnixTerminal destroys its stream within 200 ms, read or not, so a
//   reader held back by flow control loses what is still buffered.
// - Its stream destroys itself, closing the master, when a read fails with EIO. A command that
//   closes its terminal descriptors and goes on running (`exec >&- 2>&- <&-; sleep 1; exit 7`)
//   is then hung up and killed by SIGHUP instead of exiting 7.
//
// So node-pty only forks here (forkpty, and waitpid on a thread for the exit), and this module
// reads the master. The worker also holds a descriptor on the slave, so the master never sees
// POLLHUP or EIO and its stream never ends or closes on its own. The output ends when the
// command exits: what the stream has taken is passed on, then the master is read directly,
// without blocking, until the kernel has nothing more (EAGAIN). Linux's tty read completes the
// pending buffer work before it answers EAGAIN, so everything the command wrote is seen.
//
// Like sshd, the session ends when its command exits: background jobs that keep the terminal
// open are not waited for; what they write after that is dropped and closing the master hangs
// the terminal up on them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import * as tty from 'node:tty';
import { ptyInput, type PtyInput } from './pty-input';

/** Bytes read after the exit at most: a background job writing without pause cannot hold the session. */
const MAX_DRAIN_AFTER_EXIT = 1024 * 1024;
const READ_SIZE = 64 * 1024;

/** The part of node-pty's native module used here (its IUnixNative). */
interface NativePty {
  fork(
    file: string, args: string[], env: string[], cwd: string, cols: number, rows: number,
    uid: number, gid: number, useUtf8: boolean, helperPath: string,
    onExit: (code: number, signal: number) => void,
  ): { fd: number; pid: number; pty: string };
  resize(fd: number, cols: number, rows: number): void;
}

let native: { module: NativePty; helperPath: string } | undefined;

function loadNative(): { module: NativePty; helperPath: string } {
  if (native) return native;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const utils = require('node-pty/lib/utils') as { loadNativeModule(name: string): { dir: string; module: unknown } };
  const loaded = utils.loadNativeModule('pty');
  const m = loaded.module as Partial<NativePty> | null;
  if (typeof m?.fork !== 'function' || typeof m.resize !== 'function') {
    throw new Error('node-pty native module has no fork/resize');
  }
  // Where node-pty's own UnixTerminal finds it; only macOS uses it.
  const helperPath = path.resolve(path.dirname(require.resolve('node-pty/lib/utils')), loaded.dir, 'spawn-helper');
  native = { module: m as NativePty, helperPath };
  return native;
}

export interface PtyExit {
  code: number;
  /** Signal number, 0 when the command exited. */
  signal: number;
}

export interface PtySpawnOptions {
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
}

export interface PtyProcess {
  readonly pid: number;
  /** "/dev/pts/N". */
  readonly ttyPath: string;
  /** The terminal's output; ends once the command has exited and what it wrote is read. */
  readonly output: Readable;
  /** Input for the terminal, with back-pressure. */
  readonly input: Writable;
  readonly exited: Promise<PtyExit>;
  resize(cols: number, rows: number): void;
  /** Hangs the terminal up (closes the master) once no input write is in flight; idempotent. */
  close(): Promise<void>;
}

export function spawnPty(file: string, args: string[], o: PtySpawnOptions): PtyProcess {
  const { module, helperPath } = loadNative();
  let onExit: ((e: PtyExit) => void) | undefined;
  let early: PtyExit | undefined;
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const child = module.fork(file, args, env, o.cwd, o.cols, o.rows, -1, -1, false, helperPath, (code, signal) => {
    const e = { code, signal };
    if (onExit) onExit(e);
    else early = e;
  });
  const fd = child.fd;

  // Our own hold on the slave (see the top of the file). Opened after the fork, close-on-exec,
  // so the command never sees it. Without it, reading falls back to ending at EOF or EIO.
  let slave: number | undefined;
  try {
    slave = fs.openSync(child.pty, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  } catch {
    slave = undefined;
  }

  const source = new tty.ReadStream(fd, { allowHalfOpen: true });
  const input: PtyInput = ptyInput(fd);
  /** Set once the master descriptor is closed: nothing may read, write or resize it after. */
  let masterClosed = false;
  let closing: Promise<void> | undefined;
  let outputDone = false;

  const output = new Readable({
    highWaterMark: READ_SIZE,
    read: () => {
      if (!outputDone) source.resume();
    },
  });
  const onData = (chunk: Buffer): void => {
    if (!output.push(chunk)) source.pause();
  };
  source.on('data', onData);

  /** Passes on what the stream holds, then reads the master directly until nothing is left. */
  const finishOutput = (): void => {
    if (outputDone) return;
    outputDone = true;
    source.removeListener('data', onData);
    source.pause();
    for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) {
      output.push(chunk);
    }
    if (!masterClosed) drainMaster(fd, (chunk) => output.push(chunk));
    output.push(null);
  };
  // Only without our slave descriptor do these come before the exit. At 'end' (maybe early, see
  // above) the master is still open and is drained; at 'error' the stream has already closed it,
  // after reading everything (EIO).
  source.on('end', finishOutput);
  source.on('error', () => {
    masterClosed = true;
    void input.close();
    finishOutput();
  });

  const exited = new Promise<PtyExit>((resolve) => {
    onExit = (e) => {
      finishOutput();
      resolve(e);
    };
    if (early) onExit(early);
  });

  return {
    pid: child.pid,
    ttyPath: child.pty,
    output,
    input: input.stream,
    exited,
    resize: (cols, rows) => {
      if (masterClosed) return;
      try {
        module.resize(fd, cols, rows);
      } catch {
        // The terminal is gone; the exit is on its way.
      }
    },
    close: () => {
      closing ??= (async () => {
        await input.close();
        masterClosed = true;
        source.destroy();
        if (slave !== undefined) fs.closeSync(slave);
      })();
      return closing;
    },
  };
}

/**
 * Reads a non-blocking master until EAGAIN (nothing more for now) or EIO (the slave side is
 * closed and everything is read). node-pty makes the master non-blocking, so this cannot stall.
 */
function drainMaster(fd: number, push: (chunk: Buffer) => void): void {
  let total = 0;
  while (total < MAX_DRAIN_AFTER_EXIT) {
    const buf = Buffer.allocUnsafe(READ_SIZE);
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, READ_SIZE, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EINTR') continue;
      return;
    }
    if (n === 0) return;
    push(buf.subarray(0, n));
    total += n;
  }
}

/** A warm worker loads node-pty's native module while it waits, not during a login (warm-tls.ts). */
export function preloadPtyNative(): void {
  loadNative();
}
