// Memory of a daemon and everything it spawned. PSS, not RSS: RSS counts shared pages (libc, the
// node binary) once per process, which overstates the cost of many similar processes; PSS splits
// each shared page among its sharers, so the sum over a tree is what the tree really costs.

import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

/** `root` and all its descendants that exist right now. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** PSS of one process in bytes; 0 if it has gone (a race we accept: it used no memory then). */
export function pssBytes(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = text.match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface TreeMemory {
  processes: number;
  pssBytes: number;
}

export function treeMemory(root: number): TreeMemory {
  const pids = descendants(root);
  let total = 0;
  for (const pid of pids) total += pssBytes(pid);
  return { processes: pids.length, pssBytes: total };
}

/** Waits (up to `timeoutMs`) until the tree under `root` has at most `count` processes, e.g.
 * until the processes of sessions that just ended have gone and been reaped. */
export async function waitForTreeSize(root: number, count: number, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (descendants(root).length > count && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
