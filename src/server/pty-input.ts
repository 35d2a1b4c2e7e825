// stdin for a PTY session with real back-pressure. node-pty's write() queues without limit and
// retries EAGAIN in a busy loop; writing the master fd ourselves lets the Channel return window
// credit only as fast as the terminal really takes the bytes.

import * as fs from 'node:fs';
import { Writable } from 'node:stream';

const RETRY_MS = 5;

export function ptyInput(fd: number): Writable {
  let closed = false;
  const writeAll = (buf: Buffer, callback: (err?: Error | null) => void): void => {
    if (closed || buf.length === 0) return callback();
    fs.write(fd, buf, 0, buf.length, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') return void setTimeout(() => writeAll(buf, callback), RETRY_MS);
        // EIO once the shell is gone: drop the input, the exit is on its way.
        closed = true;
        return callback();
      }
      writeAll(buf.subarray(written), callback);
    });
  };
  return new Writable({
    highWaterMark: 64 * 1024,
    write: (chunk: Buffer, _enc, callback) => writeAll(chunk, callback),
    destroy: (_err, callback) => {
      closed = true;
      callback(null);
    },
  });
}
