// Child-process helpers shared by the rows: timed runs, waiting for a marker on a stream, and
// stopping what we started (by pid, never by name).

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { TimerReply, TimerRequest } from './timer-child';

// Every client process a row starts, so an interrupted run (Ctrl-C, a row's timeout) can end
// them all: a client left running would keep its session and the account alive.
const live = new Map<object, () => void>();

/** Remembers how to kill a process until it exits. */
export function track(handle: object, kill: () => void): () => void {
  live.set(handle, kill);
  return () => live.delete(handle);
}

export function trackChild(child: ChildProcess): void {
  const forget = track(child, () => child.kill('SIGKILL'));
  child.once('exit', forget);
}

/** SIGKILLs every tracked process that has not exited yet. */
export function killTracked(): void {
  for (const kill of live.values()) {
    try {
      kill();
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** A time limit for moving `bytes`: 20 s plus the time at `minMBps` (far below any sane speed). */
export const transferTimeoutMs = (bytes: number, minMBps: number): number => 20_000 + bytes / (minMBps * 1000);

export interface RunResult {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /**
   * CPU of every command the timing process has reaped so far (theirs and their reaped
   * descendants'), in ms: between two commands run one after the other, the difference is what
   * the later one cost. A running total, since a command's CPU is only counted once it is reaped.
   */
  reapedCpuMs: number;
}

/**
 * Runs argv to completion; stdin is /dev/null. Times from spawn to exit, like `time` in a shell:
 * the spawn is made by a small process of its own (timer-child.ts), so the bench's own size is
 * not part of any row's figure.
 */
export function runTimed(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const t = timer();
  const id = t.next++;
  return new Promise((resolve, reject) => {
    t.pending.set(id, (r) => ('error' in r ? reject(new Error(`${argv[0]}: ${r.error}`)) : resolve(r)));
    if (t.pending.size === 1) t.ref();
    const req: TimerRequest = { id, argv: [...argv], env: opts.env ?? process.env, timeoutMs: opts.timeoutMs };
    t.child.send(req);
  });
}

interface Timer {
  child: ChildProcess;
  next: number;
  pending: Map<number, (r: TimerReply) => void>;
  ref(): void;
}

let timerProcess: Timer | undefined;

/** The timing process, started on first use; it holds the bench open only while a command runs. */
function timer(): Timer {
  if (timerProcess) return timerProcess;
  const child = spawn(process.execPath, [join(__dirname, 'timer-child.js')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const t: Timer = {
    child,
    next: 1,
    pending: new Map(),
    ref: () => {
      child.ref();
      child.channel?.ref();
    },
  };
  const unref = (): void => {
    child.unref();
    child.channel?.unref();
  };
  child.on('message', (r: TimerReply) => {
    const done = t.pending.get(r.id);
    t.pending.delete(r.id);
    if (t.pending.size === 0) unref();
    done?.(r);
  });
  // SIGTERM: it kills the commands it started, then itself.
  const forget = track(child, () => child.kill('SIGTERM'));
  child.once('exit', (code, signal) => {
    forget();
    if (timerProcess === t) timerProcess = undefined;
    for (const done of t.pending.values()) done({ id: 0, error: `the timing process ended (${signal ?? code})` });
    t.pending.clear();
  });
  unref();
  timerProcess = t;
  return t;
}

/** runTimed, but a non-zero exit is an error carrying the command's stderr. */
export async function runChecked(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await runTimed(argv, opts);
  if (r.code !== 0) {
    throw new Error(`${argv.join(' ')} exited ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(0, 800)}`);
  }
  return r;
}

/** Resolves once `pattern` has appeared on the stream (returns the match); rejects on timeout/end. */
export function waitFor(stream: Readable, pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer | string): void => {
      seen += d.toString();
      if (seen.length > 65536) seen = seen.slice(-32768);
      const m = seen.match(pattern);
      if (m) { cleanup(); resolve(m); }
    };
    const onEnd = (): void => { cleanup(); reject(new Error(`${what}: stream ended before ${pattern}; saw: ${seen.trim().slice(-600)}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${what}: no ${pattern} within ${timeoutMs} ms; saw: ${seen.trim().slice(-600)}`)); }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** spawn() for client processes: tracked, so an interrupted run still ends them. */
export function spawnTracked(argv: readonly string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), opts);
  trackChild(child);
  return child;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
