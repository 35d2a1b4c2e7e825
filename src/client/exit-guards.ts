// Whatever way tlssh ends, the local terminal must come back as it was: a login shell left in
// raw mode is unusable. Cleanups registered here run on normal exit, on SIGINT/SIGTERM/SIGHUP
// delivered to tlssh, and on any uncaught exception, before the process goes.

import { constants as osConstants } from 'node:os';
import { EXIT_TLSSH_FAILURE } from '../errors';
import { failureLine } from './exit-status';
import { writeStderrLine } from './stderr-log';

// tlssh's client is two bundles in one process (the light one that routes and runs shared
// sessions, and the full one it loads for a direct connection; scripts/bundle.js): each has its
// own copy of this module, so the state lives on the process, where both copies find it.
interface GuardState {
  cleanups: Set<() => void>;
  installed: boolean;
  /** While set, the first SIGINT goes here instead of ending tlssh (a command without a PTY). */
  interruptHandler: (() => void) | undefined;
  /** Set once the remote session runs; until then SIGINT, SIGTERM and SIGHUP end tlssh by their own default action. */
  sessionStarted: boolean;
}
const STATE_KEY = Symbol.for('tlssh.client.exit-guards');
const state: GuardState = ((globalThis as Record<symbol, GuardState | undefined>)[STATE_KEY] ??= {
  cleanups: new Set(),
  installed: false,
  interruptHandler: undefined,
  sessionStarted: false,
});
const cleanups = state.cleanups;

/** The signals that end tlssh as ssh's do, with the terminal restored first. */
const GUARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Registers `fn` to run once at exit; returns a function that unregisters it. */
export function onExitCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs every cleanup now (each at most once), newest first; a failing one never stops the rest. */
export function runExitCleanups(): void {
  const list = [...cleanups].reverse();
  cleanups.clear();
  for (const fn of list) {
    try {
      fn();
    } catch {
      // A cleanup that fails must not keep the others (the terminal above all) from running.
    }
  }
}

/** Ends the process with `status` after the cleanups. */
export function exitNow(status: number): never {
  runExitCleanups();
  process.exit(status);
}

export interface GuardOptions {
  /** Current verbosity, read when a guard fires: -v shows error codes and "Killed by signal N.". */
  verbosity: () => number;
}


/**
 * Sends the next SIGINT to `fn` instead of ending tlssh: on a command without a terminal, Ctrl-C
 * is meant for the remote command, whose death then decides tlssh's exit status. A second Ctrl-C
 * ends tlssh as before, so a remote command that ignores SIGINT cannot hold the user hostage.
 * Returns a function that undoes it.
 */
export function interceptInterrupt(fn: () => void): () => void {
  state.interruptHandler = fn;
  return () => {
    if (state.interruptHandler === fn) state.interruptHandler = undefined;
  };
}

/**
 * The remote session runs: from now on a signal ends tlssh with status 255, as ssh once it is in
 * its client loop. Before this, tlssh dies of the signal itself (below).
 */
export function markSessionStarted(): void {
  state.sessionStarted = true;
}

/**
 * Ends tlssh by `signal`'s default action, the terminal restored first. While it connects ssh has
 * no handler for SIGINT, SIGTERM or SIGHUP and dies of them; the shell that ran it sees that
 * (status 130 for ^C), and bash stops a `for h in ...; do tlssh $h ...; done` loop on ^C only
 * when its child died of SIGINT. An exit(255) there would send the loop on to the next host.
 */
function dieOf(signal: NodeJS.Signals): void {
  runExitCleanups();
  process.removeAllListeners(signal);
  raise(signal);
}

/**
 * Sends `signal` to tlssh itself. Node handles a signal on a later event-loop turn, and its signal
 * handles do not keep the loop alive: the timer does, so tlssh cannot end quietly with status 0
 * in between. Should the signal not end tlssh, the timer still does, with 255.
 */
export function raise(signal: NodeJS.Signals): void {
  process.kill(process.pid, signal);
  setTimeout(() => process.exit(EXIT_TLSSH_FAILURE), 1000);
}

/**
 * The signals tlssh's parent left ignored, as bin/tlssh read them before node reset them
 * (TLSSH_SIGIGN, /proc's SigIgn mask in hex). Taken out of the environment, so that nothing
 * tlssh starts sees it.
 */
export function ignoredAtStart(env: NodeJS.ProcessEnv): Set<NodeJS.Signals> {
  const mask = env['TLSSH_SIGIGN'];
  delete env['TLSSH_SIGIGN'];
  const ignored = new Set<NodeJS.Signals>();
  if (mask === undefined || !/^[0-9a-f]{1,16}$/i.test(mask)) return ignored;
  const bits = BigInt(`0x${mask}`);
  for (const signal of GUARDED) {
    if ((bits >> BigInt(osConstants.signals[signal] - 1)) & 1n) ignored.add(signal);
  }
  return ignored;
}

export function installExitGuards(options: GuardOptions): void {
  if (state.installed) return;
  state.installed = true;
  process.on('exit', runExitCleanups);
  // As ssh (and rsh before it), a signal that was ignored when tlssh started stays ignored:
  // `nohup tlssh host job &` outlives the terminal, and a background `tlssh host job &` in a
  // script outlives the ^C meant for the script. A listener that does nothing is how Node
  // ignores a signal.
  const ignored = ignoredAtStart(process.env);
  // ssh's answer to these signals: restore the terminal and exit 255. As OpenSSH 9's ssh,
  // "Killed by signal N." is a verbose line (-v): `timeout 30 tlssh ...` and scripts that kill
  // their tlssh expect no noise on stderr.
  // SIGQUIT too, as ssh: Ctrl-\ at a terminal that is not raw would otherwise kill tlssh with a
  // core dump and the terminal left as it was.
  for (const signal of GUARDED) {
    if (ignored.has(signal)) {
      process.on(signal, () => undefined);
      continue;
    }
    process.on(signal, () => {
      const intercept = signal === 'SIGINT' ? state.interruptHandler : undefined;
      if (intercept) {
        state.interruptHandler = undefined;
        if (options.verbosity() > 0) writeStderrLine('debug1: SIGINT: sending it to the remote command');
        intercept();
        return;
      }
      // SIGQUIT's default action dumps core, and this process may hold a key or a passphrase.
      if (!state.sessionStarted && signal !== 'SIGQUIT') return dieOf(signal);
      runExitCleanups();
      if (options.verbosity() > 0) writeStderrLine(`Killed by signal ${osConstants.signals[signal]}.`);
      process.exit(EXIT_TLSSH_FAILURE);
    });
  }
  const fatal = (err: unknown): void => {
    runExitCleanups();
    writeStderrLine(failureLine(err, options.verbosity() > 0));
    process.exit(EXIT_TLSSH_FAILURE);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}
