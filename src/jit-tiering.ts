// Interactive sessions run without V8's optimising compiler (TurboFan) until bulk data flows.
//
// Why (bench/RESULTS.md, "5a, 5b keystroke echo"): every tlssh process is young, and in its first
// few thousand keystrokes V8 compiles about 25 hot functions (Node's stream code, the frame
// writer) with TurboFan, each on a helper thread that holds a core for 2-5 ms. The client and
// the worker run the same code per keystroke, so they reach each function's threshold together,
// and on a 2-core machine the next process of the echo chain waits behind them: the slowest
// keystroke in a hundred took 2.6-4.3 ms against ssh's 0.35-0.5. Baseline code (Sparkplug) is
// plenty for a few bytes per keystroke, and with TurboFan off in both processes that p99 fell to
// 0.66-0.79 ms with p50 no worse; the price is ~0.1 ms more p50 in sessions that go on for
// thousands of keystrokes. Bulk output is where optimised code pays: once a session has
// moved BULK_BYTES, TurboFan comes back for the rest of the process's life, and a compile then
// delays output nobody is watching byte by byte.
//
// The switch is process-wide because V8's flag is; changing it after start-up only changes
// which tier V8 picks next (code already optimised stays so). Set at runtime rather than on the
// command line: a V8 flag on the command line changes the flag hash, and V8 then rejects the
// code caches, Node's own and ours, at every start.

import { setFlagsFromString } from 'node:v8';

/** Bytes relayed, either way, after which optimised code is worth its compiles. */
export const BULK_BYTES = 1024 * 1024;

export type JitMode = 'default' | 'interactive' | 'bulk';

let mode: JitMode = 'default';
let relayed = 0;
let announce: ((line: string) => void) | undefined;

export function jitMode(): JitMode {
  return mode;
}

/**
 * A session with a terminal started: baseline code only, until BULK_BYTES have been relayed.
 * Only the first call of a process does anything; a process that already went bulk stays so.
 */
export function enterInteractive(debug?: (line: string) => void): void {
  if (mode !== 'default') return;
  setFlagsFromString('--no-turbofan');
  mode = 'interactive';
  announce = debug;
  debug?.(`terminal session: V8's optimising compiler off until ${BULK_BYTES / 1024} KiB have been relayed`);
}

/** Session data moved through this process, in either direction. */
export function noteRelayed(bytes: number): void {
  if (mode !== 'interactive') return;
  relayed += bytes;
  if (relayed < BULK_BYTES) return;
  setFlagsFromString('--turbofan');
  mode = 'bulk';
  announce?.(`${relayed} bytes relayed: V8's optimising compiler back on`);
  announce = undefined;
}
