// Row 6: what an idle interactive session costs the server: PSS summed over the daemon and all
// its descendants (per-connection processes, shells) with N sessions open, minus the same sum
// with none, divided by N.

import type { ChildProcess } from 'node:child_process';
import { treeMemory } from '../lib/process-tree';
import { sleep, spawnTracked, waitFor } from '../lib/proc';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';

async function openShell(t: Target): Promise<ChildProcess> {
  // A login shell on a PTY, the way people leave sessions open; stdin is kept open so it stays.
  const argv = t.clientArgv({ tty: 'force' });
  const child = spawnTracked(argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-2000); });
  // The quotes keep the typed line's own echo from matching: only the output says READY.
  child.stdin!.write("echo RE''ADY\n");
  await waitFor(child.stdout!, /READY/, 60_000, `${t.label} idle shell`).catch((e: unknown) => {
    // Without the client's own words a failed session is a mystery.
    throw new Error(`${e instanceof Error ? e.message : String(e)}; client stderr: ${err.replace(/\s+/g, ' ').trim().slice(-300)}`);
  });
  child.stdout!.resume();
  return child;
}

async function sampleTree(pid: number, samples: number): Promise<{ pss: number; processes: number }> {
  const pss: number[] = [];
  let processes = 0;
  for (let i = 0; i < samples; i++) {
    const m = treeMemory(pid);
    pss.push(m.pssBytes);
    processes = m.processes;
    await sleep(300);
  }
  return { pss: summarize(pss).median, processes };
}

async function closeAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return; }
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    c.once('exit', () => { clearTimeout(timer); resolve(); });
    c.stdin!.end('exit\n');
  })));
}

export async function idleMemory(t: Target, sessions: number): Promise<Cell> {
  await sleep(500); // let sessions of earlier rows finish leaving
  const base = await sampleTree(t.serverPid(), 5);
  const children: ChildProcess[] = [];
  try {
    // A few at a time: this row is about memory, not about surviving a login storm.
    for (let i = 0; i < sessions; i += 5) {
      const batch = await Promise.all(Array.from({ length: Math.min(5, sessions - i) }, () => openShell(t)));
      children.push(...batch);
    }
    await sleep(1000);
    const loaded = await sampleTree(t.serverPid(), 5);
    const perSessionMB = (loaded.pss - base.pss) / sessions / 1e6;
    return {
      status: 'ok',
      summary: summarize([perSessionMB]),
      detail: {
        sessions,
        baselinePssMB: Math.round(base.pss / 1e5) / 10,
        loadedPssMB: Math.round(loaded.pss / 1e5) / 10,
        processesPerSession: Math.round(((loaded.processes - base.processes) / sessions) * 100) / 100,
      },
    };
  } finally {
    await closeAll(children);
  }
}
