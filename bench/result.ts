// The shape of a benchmark's outcome, shared by the rows, the table, the JSON and the chart.

import type { Summary } from './lib/stats';

/** A measured figure, or why there is none. */
export type Cell =
  | { status: 'ok'; summary: Summary; detail?: Record<string, number | string>; warning?: string }
  | { status: 'skipped'; reason: string };

export interface Row {
  id: string;
  title: string;
  unit: string;
  /** Which direction is better for this figure. */
  better: 'lower' | 'higher';
  ssh: Cell;
  tlssh: Cell;
  note?: string;
}

export const skipped = (reason: string): Cell => ({ status: 'skipped', reason });

/** tlssh/ssh of the medians, or undefined when either side has no figure. */
export function ratio(row: Row): number | undefined {
  if (row.ssh.status !== 'ok' || row.tlssh.status !== 'ok') return undefined;
  const r = row.tlssh.summary.median / row.ssh.summary.median;
  return Number.isFinite(r) ? r : undefined;
}

/** "tlssh better" / "ssh better" from the ratio and the row's direction; "" when unknown. */
export function verdict(row: Row): string {
  const r = ratio(row);
  if (r === undefined) return '';
  if (Math.abs(r - 1) < 0.02) return 'even';
  const tlsshWins = row.better === 'lower' ? r < 1 : r > 1;
  return tlsshWins ? 'tlssh better' : 'ssh better';
}

/** Turns a failure into a skipped cell whose reason is its first line, so one row's trouble never stops the others. */
export async function measure(what: () => Promise<Cell>, serverLog?: () => string): Promise<Cell> {
  try {
    return await what();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // The server's last lines say why it refused or dropped (a penalty, a TPM error, a limit).
    const log = serverLog?.().trim().split('\n').slice(-3).join(' | ');
    return skipped(`failed: ${msg.replace(/\s+/g, ' ').slice(0, 300)}${log ? `; server log: ${log.replace(/\s+/g, ' ').slice(-400)}` : ''}`);
  }
}
