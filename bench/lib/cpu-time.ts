// CPU time spent by a process and every descendant it has already reaped: the kernel adds a
// reaped child's time (and its own reaped children's) into the parent's cutime/cstime. Across
// a run of short logins, the daemon's figure is the server-side CPU cost of those logins, and
// ours is the cost of the client processes we started and waited for.

import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { descendants } from './process-tree';

let ticksPerSecond: number | undefined;

export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    ticksPerSecond = Number(r.stdout.trim()) || 100;
  }
  return ticksPerSecond;
}

/** utime, stime, cutime and cstime of `pid` (fields 14-17 of stat(5)), in ms. */
function cpuFields(pid: number | 'self'): { own: number; reaped: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // f[0] is field 3 (state): the command name before it may hold spaces and parentheses.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ms = (ticks: number): number => (ticks * 1000) / clockTicks();
  return { own: ms(Number(f[11]) + Number(f[12])), reaped: ms(Number(f[13]) + Number(f[14])) };
}

/** utime+stime+cutime+cstime of `pid` in milliseconds ("self" for this process). */
export function cpuMsWithReapedChildren(pid: number | 'self'): number {
  const c = cpuFields(pid);
  return c.own + c.reaped;
}

/** cutime+cstime of this process in milliseconds: only the children it has reaped, not itself. */
export function reapedChildrenCpuMs(): number {
  return cpuFields('self').reaped;
}

/** CPU ms of `root` and its live descendants, each with the children it has reaped. */
export function treeCpuMs(root: number): number {
  let ms = 0;
  for (const pid of descendants(root)) {
    try {
      ms += cpuMsWithReapedChildren(pid);
    } catch {
      // gone meanwhile: its time is in its parent's reaped children, or lost with a few ticks
    }
  }
  return ms;
}
