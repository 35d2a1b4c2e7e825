// Row 1: wall time of `client host true`, from spawn to exit, as a user's shell would see it.

import { runTimed, type RunResult } from '../lib/proc';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';

/** One login running `true`; throws with the client's stderr when it fails. */
export async function loginOnce(t: Target, timeoutMs = 60_000): Promise<number> {
  return (await loginRun(t, timeoutMs)).ms;
}

/** One login, with what the timing process reports of it (its CPU among them). */
export async function loginRun(t: Target, timeoutMs = 60_000): Promise<RunResult> {
  const argv = t.clientArgv({ tty: 'auto', command: 'true' });
  const trace = process.env.TLSSH_BENCH_TPM_TRACE ? (what: string): void => { process.stderr.write(`tpm-trace ${performance.now().toFixed(1)} login ${what}\n`); } : undefined;
  trace?.('start');
  const r = await runTimed(argv, { timeoutMs });
  trace?.(`exit ${r.code ?? r.signal}`);
  if (r.code !== 0) throw new Error(`${t.label} login exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 400)}`);
  return r;
}

export async function loginLatency(t: Target, runs: number): Promise<Cell> {
  await loginOnce(t); // warm-up: page cache, first-run costs nobody pays twice
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await loginOnce(t));
  return { status: 'ok', summary: summarize(ms) };
}
