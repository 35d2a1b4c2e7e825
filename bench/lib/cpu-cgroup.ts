// Server-side CPU time measured by the kernel's cgroup accounting. A daemon and everything it
// forks go into a cgroup of their own, so the count includes processes that the daemon's
// descendants never reap into its cutime (sshd's per-session children are such processes).
// Works with the cgroup v1 cpuacct controller or cgroup v2; where neither can be written the
// figure is simply left out.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { descendants } from './process-tree';

export interface CpuMeter {
  /** CPU time used by the group so far, in milliseconds. */
  usageMs(): number;
  /** Removes the cgroup; call after its processes have ended. */
  remove(): void;
}

function candidates(): { dir: string; read: (dir: string) => number }[] {
  const out: { dir: string; read: (dir: string) => number }[] = [];
  if (existsSync('/sys/fs/cgroup/cpuacct/cpuacct.usage')) {
    out.push({ dir: '/sys/fs/cgroup/cpuacct', read: (d) => Number(readFileSync(join(d, 'cpuacct.usage'), 'utf8')) / 1e6 });
  }
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    if (existsSync(join(root, 'cgroup.controllers'))) {
      out.push({
        dir: root,
        read: (d) => Number(/usage_usec (\d+)/.exec(readFileSync(join(d, 'cpu.stat'), 'utf8'))?.[1] ?? Number.NaN) / 1000,
      });
    }
  }
  return out;
}

/** Moves `pid` and its current descendants into a new cgroup; undefined if that is impossible. */
export function cpuMeterFor(name: string, pid: number): CpuMeter | undefined {
  for (const c of candidates()) {
    const dir = join(c.dir, name);
    try {
      mkdirSync(dir);
    } catch {
      continue;
    }
    try {
      for (const p of descendants(pid)) writeFileSync(join(dir, 'cgroup.procs'), `${p}\n`);
      const start = c.read(dir);
      if (!Number.isFinite(start)) throw new Error('no CPU usage counter');
      return {
        usageMs: () => c.read(dir),
        remove: () => {
          try {
            rmdirSync(dir);
          } catch {
            // processes still inside; the kernel removes nothing, and the next run uses a new name
          }
        },
      };
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        // leave it
      }
    }
  }
  return undefined;
}
