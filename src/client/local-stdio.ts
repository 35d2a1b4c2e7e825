// The local ends of the remote streams. Output goes to fd 1 and 2 without ever blocking the event
// loop on a slow reader (so keepalives and the other stream keep moving), and a reader that goes
// away (`tlssh host yes | head -1`) is noticed once, quietly, instead of crashing tlssh.

import { type Readable, Writable } from 'node:stream';
import * as tty from 'node:tty';
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
  // A terminal is written through Node's own tty stream (synchronous, lowest echo latency);
  // anything else through the thread pool, with the descriptor's flags left alone.
  const target: Writable = tty.isatty(fd) ? (fd === 1 ? process.stdout : process.stderr) : fdWritable(fd);
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
  });
  return {
    stream,
    get failure() {
      return failure;
    },
  };
}

/** Local stdin as a byte stream: Node's tty stream for a terminal, the thread pool otherwise. */
export function openInput(): Readable {
  return tty.isatty(0) ? process.stdin : fdReadable(0);
}
