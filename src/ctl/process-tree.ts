// The processes of one session, read from /proc: the worker, the shell it started, and their
// children, as `ps --forest` would draw them. tlsshctl runs as root on the daemon's host, so
// every process is readable; one that exits meanwhile is left out.

import * as fs from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The command line, or [comm] for a process without one (a kernel thread, a zombie). */
  command: string;
}

/** Parses /proc/PID/stat: the comm field may itself hold spaces and parentheses. */
export function parseStat(text: string): { comm: string; ppid: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const ppid = Number(text.slice(close + 2).split(' ')[1]);
  return Number.isSafeInteger(ppid) ? { comm: text.slice(open + 1, close), ppid } : undefined;
}

export function readProcesses(procDir = '/proc'): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(procDir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseStat(fs.readFileSync(`${procDir}/${name}/stat`, 'latin1'));
      if (!stat) continue;
      const argv = fs.readFileSync(`${procDir}/${name}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      out.push({ pid: Number(name), ppid: stat.ppid, command: argv.length > 0 ? argv.join(' ') : `[${stat.comm}]` });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Lines of the tree under `rootPid`, the root first, each child indented two more spaces; at most
 * `maxLines` (the last says how many more there are). Empty when the root is gone.
 */
export function processTreeLines(rootPid: number, processes: readonly ProcessInfo[], maxLines = 12): string[] {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const root = byPid.get(rootPid);
  if (!root) return [];
  const children = new Map<number, ProcessInfo[]>();
  for (const p of processes) {
    if (p.pid === p.ppid) continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const lines: string[] = [];
  let total = 0;
  const walk = (p: ProcessInfo, depth: number, seen: Set<number>): void => {
    if (seen.has(p.pid)) return;
    seen.add(p.pid);
    total++;
    if (lines.length < maxLines) lines.push(`${'  '.repeat(depth)}${p.pid} ${p.command}`);
    for (const c of (children.get(p.pid) ?? []).sort((a, b) => a.pid - b.pid)) walk(c, depth + 1, seen);
  };
  walk(root, 0, new Set());
  if (total > lines.length) {
    lines.pop();
    lines.push(`... ${total - lines.length} more processes`);
  }
  return lines;
}
