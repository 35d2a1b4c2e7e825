// A command without a terminal gets pipes for stdin, stdout and stderr, as sshd gives it, and not
// the UNIX socketpairs Node's child_process makes for 'pipe' stdio (libuv). Two reasons:
// - Commands work as under sshd. A socket cannot be opened again by name, so `cat /dev/stdin`,
//   `diff /dev/stdin file`, `echo x > /dev/stderr` or `tee /dev/stdout` failed with ENXIO.
// - A pipe costs less per byte than a socketpair, for the command's writes and the worker's reads:
//   a Node reader of `head -c 1G /dev/zero` spent 0.41-0.43 s of CPU with a pipe against 0.51-0.53
//   with a socketpair, and `head` 0.82-0.85 against 1.05-1.11 (bench/RESULTS.md, rows 3a and 3b).
//
// Node has no pipe(2), hence the small addon native/pipe.cc. Named FIFOs (mkfifo) were tried
// first and given up: a FIFO makes whoever opens it by name wait for the other end, so a
// background job that reopened /dev/stdout after its session had ended hung in open() for ever,
// where an anonymous pipe fails at once with EPIPE (bench/RESULTS.md has the rest).
//
// The pipes are made by the session, after the privilege drop: the kernel charges their buffers
// to the user, as it would for sshd's. Without the addon a command gets socketpairs, as before.

import * as fs from 'node:fs';
import { addonCandidates, loadFirstAddon } from '../native-addon';

/** native/pipe.cc */
interface PipeBinding {
  /** pipe2(O_CLOEXEC): [read end, write end]; throws with `errno` on failure. */
  pipe(): [number, number];
}

const ADDON = 'tlssh_pipe.node';

let loaded: { binding: PipeBinding } | { error: string } | undefined;

/** The addon, or why it cannot be loaded (naming every path tried); loaded once. */
export function loadPipeBinding(): { binding: PipeBinding } | { error: string } {
  if (loaded) return loaded;
  // An override is the only place looked at: that is how a test sees a host without the addon.
  const found = loadFirstAddon<PipeBinding>(addonCandidates(ADDON, __dirname, process.env['TLSSH_PIPE_ADDON'], true), (b) => {
    if (typeof b.pipe !== 'function') throw new Error('not the tlssh pipe addon');
  });
  loaded = 'binding' in found
    ? found
    : { error: `the pipe addon could not be loaded; tried: ${found.tried.join('; ')}. Build it with "npm run build"` };
  return loaded;
}

/** One pipe: the command's end (blocking, as a command expects) and ours (libuv makes it non-blocking). */
export interface PipeEnds {
  child: number;
  ours: number;
}

export interface CommandPipes {
  stdin: PipeEnds;
  stdout: PipeEnds;
  stderr: PipeEnds;
}

/**
 * Three pipes for a command, or undefined (nothing left open) when there is no addon or the
 * process is out of descriptors: the command then gets socketpairs.
 */
export function makeCommandPipes(): CommandPipes | undefined {
  const b = loadPipeBinding();
  if (!('binding' in b)) return undefined;
  const made: number[] = [];
  const pipe = (): [number, number] => {
    const ends = b.binding.pipe();
    made.push(...ends);
    return ends;
  };
  try {
    const [inRead, inWrite] = pipe();
    const [outRead, outWrite] = pipe();
    const [errRead, errWrite] = pipe();
    return {
      stdin: { child: inRead, ours: inWrite },
      stdout: { child: outWrite, ours: outRead },
      stderr: { child: errWrite, ours: errRead },
    };
  } catch {
    for (const fd of made) closeQuietly(fd);
    return undefined;
  }
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closed already.
  }
}
