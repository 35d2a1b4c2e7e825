// The shape of a benchmark's outcome, shared by the rows, the table, the JSON and the chart.

import { summarize, type Summary } from './lib/stats';

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

/**
 * One cell from single-repeat cells of the same side (see `alternating` below): the samples
 * are the repeats' figures; a numeric detail is the median of the repeats', or their sum for a
 * count named in `sums`. A failed repeat fails the cell.
 */
export function mergeRepeats(cells: readonly Cell[], sums: readonly string[] = []): Cell {
  const failed = cells.find((c) => c.status !== 'ok');
  if (failed || cells.length === 0) return failed ?? skipped('no repeats');
  const ok = cells as readonly Extract<Cell, { status: 'ok' }>[];
  const detail: Record<string, number | string> = {};
  for (const key of new Set(ok.flatMap((c) => Object.keys(c.detail ?? {})))) {
    const values = ok.map((c) => c.detail?.[key]).filter((v) => v !== undefined);
    const numbers = values.every((v) => typeof v === 'number') ? (values as number[]) : undefined;
    detail[key] = !numbers ? values[0]! : sums.includes(key) ? numbers.reduce((x, y) => x + y, 0) : summarize(numbers).median;
  }
  const warnings = ok.map((c) => c.warning).filter((w): w is string => w !== undefined);
  return {
    status: 'ok',
    summary: summarize(ok.flatMap((c) => c.summary.samples)),
    ...(Object.keys(detail).length > 0 ? { detail } : {}),
    ...(warnings.length > 0 ? { warning: warnings.join('; ') } : {}),
  };
}

/**
 * Both columns of a throughput row, one repeat of each in turn (ssh, tlssh, ssh, ...): the other
 * work on a shared machine then weighs on both columns alike. Columns measured one after the
 * other, 3 repeats each, gave row 3b 0.94, 1.23 and 1.07 within ten minutes (2026-11-28).
 * `once` measures one repeat of one column.
 */
export async function alternating<T>(ssh: T, tlssh: T, repeats: number, once: (t: T) => Promise<Cell>, sums: readonly string[] = []): Promise<{ ssh: Cell; tlssh: Cell }> {
  const cells: [Cell[], Cell[]] = [[], []];
  for (let r = 0; r < repeats; r++) {
    cells[0].push(await once(ssh));
    cells[1].push(await once(tlssh));
  }
  return { ssh: mergeRepeats(cells[0], sums), tlssh: mergeRepeats(cells[1], sums) };
}
