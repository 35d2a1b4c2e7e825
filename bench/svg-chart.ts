// A dependency-free SVG of the results: per row, one bar for OpenSSH and one for tlssh, both
// scaled to that row's largest value (rows have different units), with min-max whiskers, the
// medians written out, and the ratio coloured by which side wins.

import { fmt } from './format';
import { machineLines } from './lib/machine';
import type { BenchReport } from './report';
import { ratio, verdict, type Cell, type Row } from './result';

const WIDTH = 1000;
const LABEL_W = 360;
const BAR_X = LABEL_W + 10;
const BAR_W = 380;
const ROW_H = 46;
const TOP = 86;
const COLORS = { ssh: '#5b7db1', tlssh: '#e08a2c', win: '#2e7d32', lose: '#c62828', even: '#555' } as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

function bar(y: number, cell: Cell, scale: number, color: string, unit: string): string {
  if (cell.status === 'skipped') return text(BAR_X, y + 11, 'skipped', 'fill="#888" font-style="italic"');
  const s = cell.summary;
  const w = Math.max(1, (s.median / scale) * BAR_W);
  const parts = [`<rect x="${BAR_X}" y="${y}" width="${w.toFixed(1)}" height="14" fill="${color}"/>`];
  if (s.samples.length > 1) {
    const x0 = BAR_X + (s.min / scale) * BAR_W;
    const x1 = BAR_X + (s.max / scale) * BAR_W;
    parts.push(`<path d="M${x0.toFixed(1)} ${y + 7}H${x1.toFixed(1)}M${x0.toFixed(1)} ${y + 3}v8M${x1.toFixed(1)} ${y + 3}v8" stroke="#222" stroke-width="1"/>`);
  }
  const labelX = BAR_X + Math.max(w, s.samples.length > 1 ? (s.max / scale) * BAR_W : 0) + 6;
  parts.push(text(labelX, y + 11, `${fmt(s.median)} ${unit}`));
  return parts.join('');
}

function rowSvg(row: Row, index: number): string {
  const y = TOP + index * ROW_H;
  const values = [row.ssh, row.tlssh].flatMap((c) => (c.status === 'ok' ? [c.summary.max, c.summary.median] : []));
  const scale = Math.max(...values, Number.MIN_VALUE);
  const r = ratio(row);
  const v = verdict(row);
  const color = v === 'tlssh better' ? COLORS.win : v === 'ssh better' ? COLORS.lose : COLORS.even;
  return [
    index % 2 === 0 ? `<rect x="0" y="${y - 4}" width="${WIDTH}" height="${ROW_H}" fill="#f5f5f5"/>` : '',
    text(10, y + 12, `${row.id} ${row.title}`, 'font-weight="bold"'),
    text(10, y + 30, `${row.unit}, ${row.better} is better`, 'fill="#666"'),
    bar(y, row.ssh, scale, COLORS.ssh, row.unit),
    bar(y + 18, row.tlssh, scale, COLORS.tlssh, row.unit),
    text(WIDTH - 10, y + 20, r === undefined ? '-' : `${r.toFixed(2)}x ${v}`, `text-anchor="end" fill="${color}" font-weight="bold"`),
  ].join('\n');
}

export function renderSvg(rep: BenchReport): string {
  const height = TOP + rep.rows.length * ROW_H + 20;
  const [m1, m2] = machineLines(rep.machine);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(10, 22, `tlssh vs OpenSSH (${rep.mode} run, ${rep.machine.date.slice(0, 10)}); ratio = tlssh/ssh`, 'font-size="16" font-weight="bold"'),
    text(10, 40, m1 ?? '', 'fill="#444"'),
    text(10, 56, m2 ?? '', 'fill="#444"'),
    `<rect x="${BAR_X}" y="64" width="12" height="10" fill="${COLORS.ssh}"/>`,
    text(BAR_X + 16, 73, 'OpenSSH'),
    `<rect x="${BAR_X + 90}" y="64" width="12" height="10" fill="${COLORS.tlssh}"/>`,
    text(BAR_X + 106, 73, 'tlssh (whiskers: min-max)'),
    ...rep.rows.map(rowSvg),
    '</svg>',
    '',
  ].join('\n');
}
