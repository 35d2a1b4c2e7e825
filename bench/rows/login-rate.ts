// Row 2: logins per second one after another, and the total time of a burst of parallel logins
// (which shows how the server side copes with many handshakes at once on few CPUs).

import { descendants, waitForTreeSize } from '../lib/process-tree';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';
import { loginOnce, loginRun } from './login-latency';

export async function sequentialLogins(t: Target, logins: number, repeats: number): Promise<Cell> {
  // The clients are started and reaped by the timing process (lib/timer-child.ts), so their CPU
  // is read from its running total: the warm-up login's figure is the first mark.
  let clientMark = (await loginRun(t)).reapedCpuMs;
  const rates: number[] = [];
  const serverCpu: number[] = [];
  const clientCpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const idleTree = descendants(t.serverPid()).length;
    const server0 = t.serverCpuMs() ?? Number.NaN;
    const client0 = clientMark;
    const t0 = performance.now();
    for (let i = 0; i < logins; i++) clientMark = (await loginRun(t)).reapedCpuMs;
    rates.push(logins / ((performance.now() - t0) / 1000));
    await waitForTreeSize(t.serverPid(), idleTree); // the session's server processes must be reaped to be counted
    serverCpu.push(((t.serverCpuMs() ?? Number.NaN) - server0) / logins);
    clientCpu.push((clientMark - client0) / logins);
  }
  return {
    status: 'ok',
    summary: summarize(rates),
    detail: {
      loginsPerRun: logins,
      serverCpuMsPerLogin: Math.round(summarize(serverCpu).median),
      clientCpuMsPerLogin: Math.round(summarize(clientCpu).median),
    },
  };
}

/** Starts `n` logins at once; resolves to the time until the last one ended. */
export async function burst(t: Target, n: number): Promise<number> {
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: n }, () => loginOnce(t, 180_000)));
  const ms = performance.now() - t0;
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    const why = failed[0]!.reason instanceof Error ? failed[0]!.reason.message : String(failed[0]!.reason);
    throw new Error(`${failed.length} of ${n} parallel logins failed; first: ${why}`);
  }
  return ms;
}

export async function concurrentLogins(t: Target, n: number, repeats: number): Promise<Cell> {
  await loginOnce(t);
  const totals: number[] = [];
  for (let r = 0; r < repeats; r++) totals.push(await burst(t, n));
  const med = summarize(totals).median;
  return { status: 'ok', summary: summarize(totals), detail: { parallelLogins: n, loginsPerSecond: Math.round((n / (med / 1000)) * 10) / 10 } };
}
