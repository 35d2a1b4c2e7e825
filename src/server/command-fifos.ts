// A command without a terminal writes its stdout and stderr into pipes, as under sshd, and not
// into the UNIX socketpairs Node's child_process makes for 'pipe' stdio (libuv). Two reasons:
// - Commands work as under sshd: a socket cannot be opened again by name, so `echo x >
//   /dev/stderr` or `tee /dev/stdout` failed with ENXIO.
// - A pipe costs less per byte than a socketpair, for the command's writes and the worker's reads:
//   a Node reader of `head -c 1G /dev/zero` spent 0.41-0.43 s of CPU with a pipe against 0.51-0.53
//   with a socketpair, and `head` 0.82-0.85 against 1.05-1.11; 1 GiB downloaded in 0.95x the time
//   (median of 12 alternating pairs, bench/RESULTS.md).
// stdin stays a socketpair, for two reasons:
// - A FIFO, unlike sshd's anonymous pipe, makes a reader that opens it by name wait for a writer:
//   `cat /dev/stdin` after the client's EOF would hang for ever, where a socket fails at once.
// - Uploads: 1 GiB into `wc -c` took 1.05x as long with a pipe for stdin (median of 12
//   alternating pairs; a pipe holds 64 KiB, a socket's buffer several times that).
//
// Node has no pipe(2), and native code here is only TPM, OpenSSL and PAM glue. So the listener
// makes named FIFOs, many at a time with one `mkfifo` process, in a directory only its own uid
// can enter (RuntimeDir/fifos, 0700). It hands two to each worker with its connection; the
// worker, still root and before it reads a byte from the client, opens both ends of each and
// unlinks them, so a session's pipes have no name left for anyone to open. The listener unlinks
// them again when the worker ends, in case it died first. Without a stock (no RuntimeDir, mkfifo
// missing or failing, a burst that emptied it) a command gets socketpairs as before.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertPrivateDirectory } from './runtime-dir';

/** One session's FIFOs: stdout, stderr. */
export const FIFOS_PER_SESSION = 2;
/** Sessions' worth made by one mkfifo process: its ~3 ms of CPU is then 0.2 ms a login. */
const BATCH_SESSIONS = 16;
/** A new batch is made when fewer than this many sessions' worth are left. */
const LOW_WATER = 6;
/** After mkfifo failed, the next try waits this long. */
const RETRY_MS = 60_000;

const NAME = /^[0-9a-f]{16}$/;

export class FifoStock {
  private readonly stock: string[][] = [];
  private making = false;
  private retryAt = 0;
  private stopped = false;

  constructor(private readonly dir: string, private readonly log: (line: string) => void) {}

  /** Creates the directory (0700) and removes FIFOs an earlier listener left, then makes a batch. */
  start(): void {
    try {
      fs.mkdirSync(this.dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    assertPrivateDirectory(this.dir, process.geteuid?.() ?? 0, 'FIFO directory');
    for (const name of fs.readdirSync(this.dir)) {
      if (NAME.test(name)) unlinkQuietly(path.join(this.dir, name));
    }
    this.refill();
  }

  /** A connection's FIFO paths, or undefined when the stock is empty. */
  take(): string[] | undefined {
    const set = this.stock.shift();
    this.refill();
    return set;
  }

  /** Sessions' worth ready now (for tests and tlsshctl). */
  get available(): number {
    return this.stock.length;
  }

  /** The worker ended: whatever of its FIFOs it did not unlink goes now. */
  release(paths: readonly string[] | undefined): void {
    for (const p of paths ?? []) unlinkQuietly(p);
  }

  stop(): void {
    this.stopped = true;
    for (const set of this.stock.splice(0)) this.release(set);
  }

  private refill(): void {
    if (this.stopped || this.making || this.stock.length >= LOW_WATER || Date.now() < this.retryAt) return;
    this.making = true;
    const names = Array.from({ length: BATCH_SESSIONS * FIFOS_PER_SESSION }, () => path.join(this.dir, randomBytes(8).toString('hex')));
    const done = (why: string | undefined): void => {
      this.making = false;
      if (why !== undefined) {
        // Whatever it made before failing is removed: the stock holds only whole, known batches.
        for (const p of names) unlinkQuietly(p);
        this.retryAt = Date.now() + RETRY_MS;
        this.log(`commands get socketpairs, not pipes: mkfifo ${why}; trying again in ${RETRY_MS / 1000}s`);
        return;
      }
      if (this.stopped) return this.release(names);
      for (let i = 0; i < names.length; i += FIFOS_PER_SESSION) this.stock.push(names.slice(i, i + FIFOS_PER_SESSION));
    };
    let child;
    try {
      child = spawn('mkfifo', ['-m', '600', '--', ...names], { stdio: 'ignore' });
    } catch (e) {
      return done(e instanceof Error ? e.message : String(e));
    }
    child.once('error', (e) => done(e.message));
    child.once('exit', (code, signal) => {
      if (code === 0) done(undefined);
      else done(signal ? `killed by ${signal}` : `exit ${code ?? '?'}`);
    });
  }
}

function unlinkQuietly(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch {
    // Unlinked already, by the worker that opened it.
  }
}

/** Both ends of one FIFO: the worker's (non-blocking, for Node) and the command's (blocking). */
export interface FifoEnds {
  ours: number;
  child: number;
}

/** The pipes of one command's output, opened and already nameless. */
export interface CommandFifos {
  stdout: FifoEnds;
  stderr: FifoEnds;
}

/**
 * Opens both ends of each FIFO and unlinks it. Anything but two FIFOs owned by our uid is
 * refused (undefined, and nothing stays open): the command then gets socketpairs.
 */
export function openCommandFifos(paths: readonly string[] | undefined): CommandFifos | undefined {
  if (!paths || paths.length !== FIFOS_PER_SESSION) return undefined;
  // O_NOFOLLOW: the directory is ours alone, but a FIFO is all that is ever opened here.
  const { O_RDONLY, O_WRONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  const opened: number[] = [];
  const open = (p: string, flags: number): number => {
    const fd = fs.openSync(p, flags | O_NOFOLLOW);
    opened.push(fd);
    const st = fs.fstatSync(fd);
    if (!st.isFIFO() || st.uid !== (process.geteuid?.() ?? st.uid)) throw new Error(`${p} is not our FIFO`);
    return fd;
  };
  try {
    const [outPath, errPath] = paths as [string, string];
    // Our reader first, so that the command's blocking open for writing returns at once. Its end
    // is blocking, as a command expects; ours is non-blocking, as libuv wants it.
    const outOurs = open(outPath, O_RDONLY | O_NONBLOCK);
    const outChild = open(outPath, O_WRONLY);
    const errOurs = open(errPath, O_RDONLY | O_NONBLOCK);
    const errChild = open(errPath, O_WRONLY);
    return {
      stdout: { ours: outOurs, child: outChild },
      stderr: { ours: errOurs, child: errChild },
    };
  } catch {
    for (const fd of opened) closeQuietly(fd);
    return undefined;
  } finally {
    for (const p of paths) unlinkQuietly(p);
  }
}

/**
 * Gives the pipes to the user the session runs as, while still root. A command may reopen them
 * by name (`echo x > /dev/stderr`, `tee /dev/stdout`), which opens the pipe's inode again
 * and checks its owner: under sshd that is the user, whose process made the pipe. False, with the
 * pipes closed, when that is refused.
 */
export function giveCommandFifos(f: CommandFifos, uid: number, gid: number): boolean {
  try {
    for (const e of [f.stdout, f.stderr]) fs.fchownSync(e.ours, uid, gid);
    return true;
  } catch {
    // Refused (a daemon that is not root, logging in someone else): closed, so socketpairs it is.
    closeCommandFifos(f);
    return false;
  }
}

/** Closes both ends of each (a session that did not use them). */
export function closeCommandFifos(f: CommandFifos): void {
  for (const e of [f.stdout, f.stderr]) {
    closeQuietly(e.ours);
    closeQuietly(e.child);
  }
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closed already.
  }
}
