// Node opens its inspector, a debugger that every local user can reach on 127.0.0.1:9229, in a
// process that receives SIGUSR1 while it has no listener for that signal. Whoever attaches runs
// code in the process: in tlssh, with the user's keys and connection; in a tlsshd worker, which
// its session's user may signal, with the server's TLS state. rsync sends SIGUSR1 to its remote
// shell whenever it stops, so this is not even an unusual signal. Node 20 has no
// --disable-sigusr1; a listener of our own keeps the inspector shut.

const INSTALLED = Symbol.for('tlssh.sigusr1-guard');

/**
 * Every program calls this first. SIGUSR1 then does what SIGTERM does in that program (its own
 * SIGTERM handling, or the default end), as the signal's default action ends a C program such
 * as ssh. Once per process: the client's two bundles both call it.
 */
export function guardInspectorSignal(): void {
  const g = globalThis as Record<symbol, boolean | undefined>;
  if (g[INSTALLED]) return;
  g[INSTALLED] = true;
  process.on('SIGUSR1', () => process.kill(process.pid, 'SIGTERM'));
}

/** A tlsshd worker: its session's user may send SIGUSR1, which must neither open the inspector nor end the session. */
export function ignoreInspectorSignal(): void {
  guardInspectorSignal();
  const before = process.listeners('SIGUSR1');
  // The new listener first, so that SIGUSR1 never has none.
  process.on('SIGUSR1', () => undefined);
  for (const l of before) process.off('SIGUSR1', l);
}
