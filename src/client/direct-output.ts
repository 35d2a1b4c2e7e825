// Local output without the thread pool, where that is safe. Through the pool every chunk costs a
// hand-over to a worker thread and back (in a 512 MiB download profile that was the client's
// largest cost), so:
// - A pipe or FIFO is reopened through /proc/self/fd/N, which gives tlssh its own open file
//   description of the same pipe. That one is made non-blocking and written by the event loop
//   (libuv writes at once and waits in epoll only when the pipe is full), while the description
//   shared with the shell and the other processes keeps its flags.
// - A regular file, or /dev/null, is written synchronously: such a write never waits for a reader,
//   only for the page cache, as ssh's does.
// Anything else (a socket, a pipe that cannot be reopened, another device) gets undefined, and
// the caller keeps the thread pool (fd-streams.ts).

import * as fs from 'node:fs';
import * as net from 'node:net';
import { Writable } from 'node:stream';

export type DirectKind = 'pipe' | 'file';

export interface DirectOutput {
  kind: DirectKind;
  stream: Writable;
}

/** What `fd` is, when it can be written without the thread pool. */
export function directKind(st: fs.Stats): DirectKind | undefined {
  if (st.isFIFO()) return 'pipe';
  if (st.isFile()) return 'file';
  if (isNullDevice(st)) return 'file';
  return undefined;
}

/** Whether `st` is /dev/null's: nothing to read from it, and writes to it cost nothing. */
export function isNullDevice(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === nullDevice();
}

let nullRdev: number | undefined;
function nullDevice(): number {
  if (nullRdev === undefined) {
    try {
      nullRdev = fs.statSync('/dev/null').rdev;
    } catch {
      nullRdev = -1;
    }
  }
  return nullRdev;
}

/** A Writable over fd 1 or 2 that does not use the thread pool, or undefined (see above). */
export function openDirectOutput(fd: number): DirectOutput | undefined {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    return undefined;
  }
  const kind = directKind(st);
  if (kind === 'file') return { kind, stream: syncWritable(fd) };
  if (kind === 'pipe') {
    let own: number;
    try {
      // O_NONBLOCK on the open itself: a FIFO without a reader then fails (ENXIO) instead of
      // waiting; Node opens it close-on-exec, so local commands never inherit it.
      own = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    return { kind, stream: new net.Socket({ fd: own, readable: false, writable: true }) };
  }
  return undefined;
}

/** Each chunk written completely, at once, before its callback runs; an error goes to the callback. */
function syncWritable(fd: number): Writable {
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      try {
        // At the file's current offset (shared with the shell: `>>` and `2>&1` keep working).
        for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off, null);
      } catch (e) {
        return callback(e as Error);
      }
      callback();
    },
  });
}
