// Tables for tlsshctl's replies (--json prints the reply itself).

import type { SessionView } from '../server/control-protocol';
import { terminalSafe } from '../terminal-safe-text';

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${String(Math.floor(seconds / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86400)}d${String(Math.floor(seconds / 3600) % 24).padStart(2, '0')}h`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n}`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u] ?? ''}`;
}

/** What the session runs: its tty, or its command (shortened). */
export function whatOf(s: SessionView): string {
  if (s.tty) return s.kind === 'command' && s.command ? `${s.tty} ${s.command}` : s.tty;
  if (s.kind === 'shell') return '(shell)';
  if (s.kind === 'shared') return '(shared, idle)';
  return s.command ?? '?';
}

/** Control characters from a worker's report never reach the administrator's terminal. */
export function printable(s: string): string {
  return terminalSafe(s);
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

export function sessionsTable(sessions: readonly SessionView[], now: Date = new Date()): string {
  if (sessions.length === 0) return 'no sessions\n';
  const rows = [['ID', 'USER', 'TTY/COMMAND', 'FROM', 'PID', 'STARTED', 'IDLE', 'IN', 'OUT', 'SERIAL', 'EXPIRES', 'SUBJECT']];
  for (const s of sessions) {
    const started = new Date(s.started);
    const age = Math.max(0, Math.floor((now.getTime() - started.getTime()) / 1000));
    rows.push([
      s.session !== undefined ? `${s.id}.${s.session}` : String(s.id), s.user, whatOf(s).slice(0, 40), s.remote.replace(' port ', ':'), String(s.pid),
      `${formatDuration(age)} ago`, ...(s.adopted ? ['-', '-', '-'] : [formatDuration(s.idle), formatBytes(s.bytesIn), formatBytes(s.bytesOut)]),
      s.serial ?? '?', s.notAfter ? s.notAfter.replace(/\.\d+Z$/, 'Z') : '?', s.subject ?? '?',
    ].map(printable));
  }
  // A shared connection's sessions share its certificate: one line per connection.
  const seen = new Set<number>();
  const once = sessions.filter((s) => !seen.has(s.id) && seen.add(s.id));
  return table(rows) + once.map((s) => `  ${s.id}: fingerprint ${printable(s.fingerprint ?? '?')}${s.adopted ? ' (started under an earlier listener: traffic and idle time unknown)' : ''}\n`).join('');
}

export function statusText(st: Record<string, unknown>): string {
  const n = (k: string): string => (typeof st[k] === 'number' || typeof st[k] === 'boolean' || typeof st[k] === 'string' ? String(st[k]) : '?');
  const lines = [
    `tlsshd pid ${n('pid')}, up ${typeof st['uptime'] === 'number' ? formatDuration(st['uptime']) : '?'} (since ${n('started')})`,
    `sessions: ${n('sessions')} (${n('logins')} logins since start)`,
    `pre-auth: ${n('preauthHeld')} connections held for their ClientHello, ${n('preauthWorkers')} in workers; ${typeof st['forkServer'] === 'number' ? `workers forked by the fork server, pid ${n('forkServer')}` : `${n('warmWorkers')} warm workers`}`,
  ];
  const pens = Array.isArray(st['penalties']) ? (st['penalties'] as Array<{ block?: unknown; remaining?: unknown; active?: unknown }>) : [];
  if (pens.length === 0) lines.push('penalties: none');
  else {
    lines.push(`penalties: ${pens.length}`);
    for (const p of pens) lines.push(`  ${printable(String(p.block))}: ${String(p.remaining)}s left${p.active === true ? ', refused' : ', accruing'}`);
  }
  lines.push(`TPM key agent: ${agentText(st['tpmAgent'])}`);
  return lines.join('\n') + '\n';
}

const ms = (v: unknown): string => (typeof v === 'number' ? `${v < 10 ? v.toFixed(1) : Math.round(v)} ms` : '-');

/** The key agent's figures in one line, or why there are none. */
export function agentText(a: unknown): string {
  if (typeof a !== 'object' || a === null) return 'none (the server key is not in a TPM)';
  const o = a as Record<string, unknown>;
  const n = (k: string): string => (typeof o[k] === 'number' ? String(o[k]) : '?');
  return `${n('signs')} signs, ${n('errors')} errors, latency p50 ${ms(o['p50Ms'])} p99 ${ms(o['p99Ms'])}, queue ${n('queue')}${o['stalled'] === true ? ', STALLED (TpmTimeout passed)' : ''}`;
}

/** The short form for top's status line. */
export function agentShort(a: unknown): string {
  if (typeof a !== 'object' || a === null) return 'TPM none';
  const o = a as Record<string, unknown>;
  return `TPM p50 ${ms(o['p50Ms'])} p99 ${ms(o['p99Ms'])} q ${typeof o['queue'] === 'number' ? o['queue'] : '?'}${typeof o['errors'] === 'number' && o['errors'] > 0 ? ` err ${o['errors']}` : ''}${o['stalled'] === true ? ' STALLED' : ''}`;
}
