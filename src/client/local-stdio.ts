// The local ends of the remote streams. Output goes to fd 1 and 2 without ever blocking the event
// loop on a slow reader (so keepalives and the other stream keep moving), and a reader that goes
// away (`tlssh host yes | head -1`) is noticed once, quietly, instead of crashing tlssh.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { Readable, Writable } from 'node:stream';
import * as tty from 'node:tty';
import { isNullDevice, openDirectOutput } from './direct-output';
import { fdReadable, fdWritable } from './fd-streams';

export interface OutputSink {
  readonly stream: Writable;
  /** The write error that stopped output, if any (EPIPE included). */
  readonly failure: NodeJS.ErrnoException | undefined;
}

/**
 * A Writable over fd 1 or 2. Each chunk completes only once it has left the process, which is
 * what lets the channel return flow-control credit at the pace of the real reader. After a
 * write error further output is discarded and `onFailure` is told once.
 */
export function openOutput(fd: 1 | 2, onFailure: (err: NodeJS.ErrnoException) => void): OutputSink {
  const target = openTarget(fd).stream;
  let failure: NodeJS.ErrnoException | undefined;
  const fail = (err: NodeJS.ErrnoException): void => {
    if (failure) return;
    failure = err;
    onFailure(err);
  };
  // Errors also arrive through the write callbacks; this only keeps them from being "unhandled".
  target.on('error', (err: NodeJS.ErrnoException) => fail(err));
  const stream = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      if (failure) return callback();
      target.write(chunk, (err) => {
        if (err) fail(err as NodeJS.ErrnoException);
        callback();
      });
    },
    // Chunks queued together (the channel corks this stream for a turn of the event loop) go to
    // the target corked too: one writev for a pipe instead of a write per frame.
    writev(chunks, callback) {
      if (failure) return callback();
      let left = chunks.length;
      target.cork();
      for (const { chunk } of chunks) {
        target.write(chunk, (err) => {
          if (err) fail(err as NodeJS.ErrnoException);
          if (--left === 0) callback();
        });
      }
      target.uncork();
    },
  });
  return {
    stream,
    get failure() {
      return failure;
    },
  };
}

/** How output to a descriptor is written (see openTarget); exported for the tests. */
export type OutputPath = 'terminal' | 'socket' | 'pipe' | 'file' | 'thread-pool';

/**
 * - A terminal: Node's own tty stream (synchronous, lowest echo latency).
 * - A socket on stdout (what Node's spawn gives for a 'pipe'): Node's own stream too, which
 *   makes the shared description non-blocking for the session, as ssh does (Node puts the flag
 *   back at exit), and writes from the event loop. Through the thread pool every chunk cost a
 *   hand-over to a pool thread and back: PTY output into a socket (bench row 4) spent twice
 *   ssh's client CPU on it, most of it in futex calls. stderr keeps the thread pool: it is
 *   rarely the bulk stream, and tlssh's own messages go to fd 2 with synchronous writes that a
 *   non-blocking description could answer with EAGAIN.
 * - A pipe or a file: without the thread pool, flags left alone (direct-output.ts).
 * - Anything else: through the thread pool, with the descriptor's flags left alone.
 */
export function openTarget(fd: 1 | 2): { path: OutputPath; stream: Writable } {
  const std = (): Writable => (fd === 1 ? process.stdout : process.stderr);
  if (tty.isatty(fd)) return { path: 'terminal', stream: std() };
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(fd);
  } catch {
    st = undefined;
  }
  // Node gives a stream socket a net.Socket, and anything it cannot write (a datagram socket) a
  // Writable that drops every byte: that one must keep the thread pool.
  if (fd === 1 && st?.isSocket() && process.stdout instanceof net.Socket) return { path: 'socket', stream: process.stdout };
  const direct = openDirectOutput(fd);
  if (direct) return { path: direct.kind, stream: direct.stream };
  return { path: 'thread-pool', stream: fdWritable(fd) };
}

/**
 * Local stdin as a byte stream, chosen so that tlssh can always exit when the session ends, even
 * while stdin stays open with nothing to read (`sleep 1000 | tlssh host true`, as ssh does): a
 * read blocked in the thread pool would hold process.exit() forever, since Node joins the pool's
 * threads on the way out.
 * - A terminal: Node's tty stream (libuv reopens the terminal for itself).
 * - A pipe or FIFO: reopened through /proc/self/fd/0, which gives tlssh its own open file
 *   description of the same pipe. That one is made non-blocking and read by the event loop,
 *   while the description shared with the shell and the other processes keeps its flags.
 * - A socket (Node's spawn gives one for 'pipe'), or a pipe that cannot be reopened (another
 *   user's): Node's own stream, which makes the shared description non-blocking for the
 *   session, as ssh does; Node puts the flag back at exit.
 * - A file or a device such as /dev/null: read in the thread pool, never blocking for long.
 */
export function openInput(): Readable {
  if (tty.isatty(0)) return process.stdin;
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(0);
  } catch {
    // No stdin at all (closed): the read fails at once, which the session takes as end of file.
    return fdReadable(0);
  }
  if (stat.isFIFO()) {
    const own = reopenPipe();
    if (own !== undefined) return pipeReadable(own);
    return process.stdin;
  }
  if (stat.isSocket()) return process.stdin;
  // /dev/null (a script's `< /dev/null`, or a spawn with stdin ignored) has nothing to read: its
  // end of file is known without a read, and so without starting the thread pool, whose threads
  // would then be joined at exit (about a millisecond of every shared `tlssh host true`).
  if (isNullDevice(stat)) return endedReadable();
  return fdReadable(0);
}

function endedReadable(): Readable {
  return new Readable({
    read() {
      this.push(null);
    },
  });
}

// Node opens every file close-on-exec, so the local commands tlssh may run never inherit it.
function reopenPipe(): number | undefined {
  try {
    return fs.openSync('/proc/self/fd/0', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
}

/** A libuv stream over our own pipe descriptor; nothing is read before the session asks. */
function pipeReadable(fd: number): Readable {
  // manualStart (what process.stdin uses): no read until a 'data' listener or read() asks, so
  // a session that never starts leaves stdin for whoever reads it next.
  const options: net.SocketConstructorOpts & { manualStart: boolean } = { fd, readable: true, writable: false, manualStart: true };
  return new net.Socket(options);
}
