// stdin for a PTY session with real back-pressure. node-pty's write() queues without limit and
// retries EAGAIN in a busy loop; writing the master fd ourselves lets the Channel return window
// credit only as fast as the terminal really takes the bytes.

import * as fs from 'node:fs';
import { Writable } from 'node:stream';

const RETRY_MS = 5;

export interface PtyInput {
  readonly stream: Writable;
  /**
   * Stops writing and resolves once no write is in flight on the descriptor, so that the caller
   * can close it: a thread-pool write still holding the number would otherwise land in whatever
   * file reuses it.
   */
  close(): Promise<void>;
}

export function ptyInput(fd: number): PtyInput {
  let closed = false;
  let inFlight = false;
  let retry: NodeJS.Timeout | undefined;
  let pendingCallback: ((err?: Error | null) => void) | undefined;
  const settled: Array<() => void> = [];
  const settle = (): void => {
    for (const fn of settled.splice(0)) fn();
  };

  const writeAll = (buf: Buffer, callback: (err?: Error | null) => void): void => {
    if (closed || buf.length === 0) return callback();
    inFlight = true;
    pendingCallback = callback;
    fs.write(fd, buf, 0, buf.length, null, (err, written) => {
      inFlight = false;
      pendingCallback = undefined;
      if (closed) {
        settle();
        return callback();
      }
      if (err) {
        if (err.code === 'EAGAIN') {
          pendingCallback = callback;
          retry = setTimeout(() => {
            retry = undefined;
            pendingCallback = undefined;
            writeAll(buf, callback);
          }, RETRY_MS);
          return;
        }
        // EIO once the shell is gone: drop the input, the exit is on its way.
        closed = true;
        return callback();
      }
      writeAll(buf.subarray(written), callback);
    });
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
      if (!inFlight) return Promise.resolve();
      return new Promise((resolve) => settled.push(resolve));
    },
  };
}
