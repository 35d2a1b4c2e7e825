// The memory a process tree costs: the sum of Pss over /proc/PID/smaps_rollup of a process and
// all its descendants (shared pages split between their users, so forked workers are not counted
// many times over), sampled on a timer to catch the peak.

import * as fs from 'node:fs';

function parentsByPid(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  return children;
}

/** The process and its descendants. */
export function treeOf(root: number): number[] {
  const children = parentsByPid();
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Pss of one process in kB, or 0 when it is gone or unreadable. */
export function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface TreeSample {
  totalKb: number;
  processes: number;
  largestKb: number;
}

export function sampleTree(root: number): TreeSample {
  let totalKb = 0;
  let largestKb = 0;
  const pids = treeOf(root);
  for (const pid of pids) {
    const kb = pssKb(pid);
    totalKb += kb;
    largestKb = Math.max(largestKb, kb);
  }
  return { totalKb, processes: pids.length, largestKb };
}

/** Samples the tree every `everyMs` and keeps the peaks; phase() records the peak per phase. */
export class TreeMemoryMonitor {
  peakKb = 0;
  peakProcesses = 0;
  peakLargestKb = 0;
  private phasePeak = 0;
  private phaseLargest = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly root: number, everyMs = 250) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): TreeSample {
    const s = sampleTree(this.root);
    this.peakKb = Math.max(this.peakKb, s.totalKb);
    this.peakProcesses = Math.max(this.peakProcesses, s.processes);
    this.peakLargestKb = Math.max(this.peakLargestKb, s.largestKb);
    this.phasePeak = Math.max(this.phasePeak, s.totalKb);
    this.phaseLargest = Math.max(this.phaseLargest, s.largestKb);
    return s;
  }

  /** The peaks since the last call (total, largest single process), then starts a new phase. */
  phase(): { peakKb: number; largestKb: number } {
    this.sample();
    const out = { peakKb: this.phasePeak, largestKb: this.phaseLargest };
    this.phasePeak = 0;
    this.phaseLargest = 0;
    return out;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
