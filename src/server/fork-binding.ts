// The fork server's system calls (native/fork-server.cc): Node has no fork(), socketpair() or
// waitpid(). Loaded only by the fork server, and so only with WorkerForkServer yes.

import { addonCandidates, loadFirstAddon } from '../native-addon';

/** native/fork-server.cc */
export interface ForkBinding {
  /** fork(): the child's pid, or 0 in the child (whose libuv loop is already its own). Throws with `errno`. */
  fork(): number;
  /** getpid(): Node's process.pid is the fork server's in a forked worker. */
  getpid(): number;
  /** socketpair(AF_UNIX, SOCK_STREAM), both ends close-on-exec. Throws with `errno`. */
  socketpair(): [number, number];
  /** _exit(): a forked worker cannot leave through Node's exit, which joins threads it does not have. */
  exit(code: number): never;
  /** Every child that has ended since the last call (waitpid WNOHANG): code, or signal number. */
  reap(): Array<{ pid: number; code: number | null; signal: number | null }>;
}

const ADDON = 'tlssh_fork.node';

/** The addon, or why it cannot be loaded (naming every path tried). */
export function loadForkBinding(): { binding: ForkBinding } | { error: string } {
  const found = loadFirstAddon<ForkBinding>(addonCandidates(ADDON, __dirname, process.env['TLSSH_FORK_ADDON'], true), (b) => {
    if (typeof b.fork !== 'function' || typeof b.reap !== 'function') throw new Error('not the tlssh fork addon');
  });
  return 'binding' in found
    ? found
    : { error: `the fork server addon could not be loaded; tried: ${found.tried.join('; ')}. Build it with "npm run build"` };
}
