// Streams over an inherited file descriptor that never change its flags: the open file
// description is shared with the shell and with other processes, so turning on O_NONBLOCK, as
// Node's own pipe handling does, could break them. Reads and writes run in the thread pool, so a
// blocking descriptor does not block the event loop. A descriptor someone else made non-blocking
// is still handled: EAGAIN waits a moment and tries again.
//
// A read here can wait in the thread pool for as long as the descriptor has nothing to give, and
// Node joins the pool's threads on exit: stdin that may stay open and silent (a pipe, a socket)
// must not be read this way (see openInput in local-stdio.ts). Files and devices such as
// /dev/null always answer. Writes are different: tlssh waits for its output to be written anyway.

import * as fs from 'node:fs';
import { Readable, Writable } from 'node:stream';

const RETRY_MS = 10;
const READ_SIZE = 64 * 1024;

function isAgain(err: NodeJS.ErrnoException | null): boolean {
  return err?.code === 'EAGAIN' || err?.code === 'EWOULDBLOCK';
}

/** Writes each chunk completely (partial writes resumed) before its callback runs. */
export function fdWritable(fd: number): Writable {
  const writeAll = (buf: Buffer, callback: (err?: Error | null) => void): void => {
    fs.write(fd, buf, 0, buf.length, null, (err, written) => {
      if (isAgain(err)) return void setTimeout(() => writeAll(buf, callback), RETRY_MS);
      if (err) return callback(err);
      if (written < buf.length) return writeAll(buf.subarray(written), callback);
      callback();
    });
  };
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      writeAll(chunk, callback);
    },
  });
}

/** Reads until end of file; a read error ends the stream with that error. */
export function fdReadable(fd: number): Readable {
  const readOnce = (stream: Readable): void => {
    const buf = Buffer.allocUnsafe(READ_SIZE);
    fs.read(fd, buf, 0, READ_SIZE, null, (err, bytes) => {
      if (isAgain(err)) return void setTimeout(() => readOnce(stream), RETRY_MS);
      if (err) return void stream.destroy(err);
      if (bytes === 0) return void stream.push(null);
      // push() false: the consumer is full; read() is called again when it wants more.
      stream.push(buf.subarray(0, bytes));
    });
  };
  return new Readable({
    highWaterMark: READ_SIZE,
    read() {
      readOnce(this);
    },
  });
}
