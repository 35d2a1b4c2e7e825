// Child-process helpers shared by the rows: timed runs, waiting for a marker on a stream, and
// stopping what we started (by pid, never by name).

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';

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
}

/** Runs argv to completion; stdin is /dev/null. Times from spawn to exit, like `time`. */
export function runTimed(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 65536) stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 65536) stderr += d; });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (e) => { if (timer) clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, signal, stdout, stderr });
    });
  });
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
