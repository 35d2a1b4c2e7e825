// Row 8: `client host true` through a connection-sharing master, both sides with the same
// options (-o ControlMaster=auto -o ControlPath=... -o ControlPersist=...): the first run starts
// the master (a warm-up, not counted), the timed runs reuse its connection. Row 9: 100 such runs
// in a row from no master at all, the first paying the whole (TPM) login, as a script would.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTimed } from '../lib/proc';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';
import { loginOnce } from './login-latency';

/** `t` with connection-sharing options on every client command line (after the program). */
function sharing(t: Target, socket: string, persist: string): Target & { control(op: string): string[] } {
  const opts = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${socket}`, '-o', `ControlPersist=${persist}`];
  return {
    ...t,
    clientArgv: (o) => {
      const argv = t.clientArgv(o);
      return [argv[0]!, ...opts, ...argv.slice(1)];
    },
    control: (op) => {
      // The destination is the last word before the command: `true` is the command here.
      const argv = t.clientArgv({ tty: 'none', command: 'true' });
      return [argv[0]!, ...opts, '-O', op, ...argv.slice(1, -1)];
    },
  };
}

async function withMaster<T>(t: Target, fn: (s: Target) => Promise<T>): Promise<T> {
  // A 0700 directory of its own, as both ssh and tlssh expect, short enough for sun_path.
  const dir = mkdtempSync(join(tmpdir(), 'tlssh-bench-cm-'));
  const s = sharing(t, join(dir, 's'), '120');
  try {
    return await fn(s);
  } finally {
    await runTimed(s.control('exit'), { timeoutMs: 10_000 }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function multiplexedLatency(t: Target, runs: number): Promise<Cell> {
  return withMaster(t, async (s) => {
    await loginOnce(s); // starts the master
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push(await loginOnce(s));
    return { status: 'ok', summary: summarize(ms) };
  });
}

/** Seconds for `count` runs in a row, the first of which starts the master; `repeats` times. */
export async function multiplexedScript(t: Target, count: number, repeats: number): Promise<Cell> {
  const seconds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    seconds.push(await withMaster(t, async (s) => {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) await loginOnce(s);
      return (performance.now() - t0) / 1000;
    }));
  }
  return { status: 'ok', summary: summarize(seconds) };
}
