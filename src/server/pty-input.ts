// stdin for a PTY session with real back-pressure. node-pty's write() queues without limit and
// retries EAGAIN in a busy loop; writing the master fd ourselves lets the Channel return window
// credit only as fast as the terminal really takes the bytes.

import * as fs from 'node:fs';
import { Writable } from 'node:stream';

const RETRY_MS = 5;

export interface PtyInput {
  readonly stream: Writable;
  /**
   * Stops writing (a retry waiting for a full terminal is dropped) and resolves once no write is
   * in flight on the descriptor, so that the caller can close it. Writes are synchronous, so that
   * is at once; it stays a promise so callers keep closing in the right order.
   */
  close(): Promise<void>;
}

export function ptyInput(fd: number): PtyInput {
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let pendingCallback: ((err?: Error | null) => void) | undefined;

  // Written at once, without the thread pool: a keystroke reaches the terminal in the same turn of
  // the event loop that decoded it (a pool round trip per keystroke cost ~15% of echo latency).
  // The master is non-blocking (libuv made it so for its reader, see pty-process.ts), so a write
  // never waits: a full terminal answers EAGAIN, and only then is the rest retried a moment later.
  const writeAll = (buf: Buffer, callback: (err?: Error | null) => void): void => {
    let rest = buf;
    while (!closed && rest.length > 0) {
      try {
        rest = rest.subarray(fs.writeSync(fd, rest, 0, rest.length, null));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          const left = rest;
          pendingCallback = callback;
          retry = setTimeout(() => {
            retry = undefined;
            pendingCallback = undefined;
            writeAll(left, callback);
          }, RETRY_MS);
          return;
        }
        // EIO once the shell is gone: drop the input, the exit is on its way.
        closed = true;
      }
    }
    callback();
  };

  const stream = new Writable({
    highWaterMark: 64 * 1024,
    write: (chunk: Buffer, _enc, callback) => writeAll(chunk, callback),
    destroy: (_err, callback) => {
      closed = true;
      callback(null);
    },
  });

  return {
    stream,
    close: () => {
      closed = true;
      if (retry) {
        clearTimeout(retry);
        retry = undefined;
        const cb = pendingCallback;
        pendingCallback = undefined;
        cb?.();
      }
      // Writes are synchronous: none can be in flight once this runs.
      return Promise.resolve();
    },
  };
}
