// Row 7: does a slow TPM in one login hurt a session that is already open? The server's key
// sits behind a proxy that delays each TPM response by 100 ms; an open session keeps echoing
// single bytes while a burst of new logins (each needing a server TPM signature) arrives.
// With per-connection workers the open session should not notice.

import { percentile, summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';
import { openEchoSession } from './echo-latency';
import { burst } from './login-rate';

export async function tpmIsolation(echoTarget: Target, loginTarget: Target, logins: number, repeats: number): Promise<Cell> {
  const p99s: number[] = [];
  const baselines: number[] = [];
  const burstSeconds: number[] = [];
  let samples = 0;
  for (let r = 0; r < repeats; r++) {
    const s = await openEchoSession(echoTarget);
    try {
      const quiet: number[] = [];
      for (let i = 0; i < 300; i++) quiet.push(await s.roundTrip());
      baselines.push(percentile(quiet, 99));

      let done = false;
      const t0 = performance.now();
      const storm = burst(loginTarget, logins).finally(() => { done = true; });
      storm.catch(() => undefined); // surfaced by the await below, not as an unhandled rejection
      const loaded: number[] = [];
      while (!done) loaded.push(await s.roundTrip());
      await storm;
      burstSeconds.push((performance.now() - t0) / 1000);
      samples += loaded.length;
      p99s.push(percentile(loaded, 99));
    } finally {
      await s.close();
    }
  }
  return {
    status: 'ok',
    summary: summarize(p99s),
    detail: {
      newLogins: logins,
      quietP99us: Math.round(summarize(baselines).median),
      burstSeconds: Math.round(summarize(burstSeconds).median * 100) / 100,
      echoSamplesDuringBursts: samples,
    },
  };
}
