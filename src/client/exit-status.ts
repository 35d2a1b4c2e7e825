// How tlssh's exit status is made, kept pure so the mapping is tested without a server.
// The remote command's status passes through untouched; a remote death by signal N becomes
// 128+N, as a local shell reports it; tlssh's own failures are 255, as with ssh, so scripts can
// tell "the command failed" from "tlssh could not run it".

import { constants } from 'node:os';
import { EXIT_TLSSH_FAILURE, describeError, isTlsshError } from '../errors';
import type { ExitStatus } from '../protocol/messages';

export type SignalTable = Readonly<Partial<Record<string, number>>>;

/** The local exit status for the remote process's end. */
export function remoteExitCode(status: ExitStatus, signals: SignalTable = constants.signals): number {
  if (status.code !== null) {
    // A status outside 0..255 cannot come from a real process; never let it look like success.
    return Number.isInteger(status.code) && status.code >= 0 && status.code <= 255 ? status.code : EXIT_TLSSH_FAILURE;
  }
  if (status.signal !== null) {
    // Signal numbers differ between systems; the name is what travels, mapped to ours here.
    const name = status.signal.startsWith('SIG') ? status.signal : `SIG${status.signal}`;
    const number = signals[name];
    if (number !== undefined) return 128 + number;
  }
  return EXIT_TLSSH_FAILURE;
}

/** A one-line account of a remote death by signal, for -v. */
export function describeRemoteEnd(status: ExitStatus): string {
  if (status.code !== null) return `remote command exited with status ${status.code}`;
  const core = status.coreDumped ? ' (core dumped)' : '';
  return `remote command killed by signal ${status.signal ?? 'unknown'}${core}`;
}

/**
 * The single stderr line for one of tlssh's own failures. Verbose mode adds the stable code,
 * which is what a bug report or a script should quote.
 */
export function failureLine(err: unknown, verbose: boolean): string {
  const message = describeError(err);
  if (verbose && isTlsshError(err)) return `tlssh: ${message} (${err.code})`;
  return `tlssh: ${message}`;
}
