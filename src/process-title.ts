// Process names as administrators look for them: `pgrep -x tlsshd` and `ps -C tlssh` match the
// kernel's comm, and ps shows the title ("tlsshd: alice@pts/3"), as for sshd.
//
// Node sets the title by overwriting the argv area (so it is cut to the length of the original
// command line) and also copies its first 15 characters into comm (prctl PR_SET_NAME), which
// would make every comm "tlsshd: alice@p". So comm is written back after every title change,
// through /proc/self/comm. That file is opened once and kept open: after a worker drops root the
// kernel makes the process non-dumpable and /proc/self/* root's, so it could not be opened
// again, while writing to an open descriptor is still allowed (the kernel checks only that the
// writer is the same process). libuv opens it close-on-exec, so no session inherits it.

import * as fs from 'node:fs';

let commFd: number | null | undefined;

/** Sets the kernel's short name of this process (at most 15 bytes are kept). */
export function setComm(name: string): void {
  if (commFd === undefined) {
    try {
      commFd = fs.openSync('/proc/self/comm', 'w');
    } catch {
      commFd = null; // Not Linux, or no /proc: the name is cosmetic, never a reason to fail.
    }
  }
  if (commFd === null) return;
  try {
    fs.writeSync(commFd, name);
  } catch {
    // As above.
  }
}

/**
 * Sets the title ps shows and keeps comm as `comm`. When the title does not fit in the argv
 * area, `fallback` (shorter) is used instead of a truncated title.
 */
export function setProcessTitle(title: string, comm: string, fallback?: string): void {
  process.title = title;
  if (fallback !== undefined && process.title !== title) process.title = fallback;
  setComm(comm);
}

/**
 * Forgets the descriptor of /proc/self/comm: a process forked from another (the fork server's
 * workers) holds its parent's, and would rename the parent. The next setComm opens its own.
 */
export function forgetComm(): void {
  if (typeof commFd === 'number') {
    try {
      fs.closeSync(commFd);
    } catch {
      // Already gone.
    }
  }
  commFd = undefined;
}
