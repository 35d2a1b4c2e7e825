// The printed table and the JSON file. The table is what people paste into an issue, so every
// row says its unit, both medians with their spread, the ratio and which direction is better.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineLines, type MachineInfo } from './lib/machine';
import { fmt } from './format';
import { ratio, verdict, type Cell, type Row } from './result';
import { renderSvg } from './svg-chart';

export interface BenchReport {
  machine: MachineInfo;
  mode: 'quick' | 'full';
  sizes: Record<string, number>;
  setup: string[];
  durationSeconds: number;
  /** 1-minute load average at the start, its highest sample during the run, and at the end. */
  load?: { start: number; max: number; end: number };
  rows: Row[];
}

/** Other work on the machine skews both columns; this line says how much there was. */
function loadLine(rep: BenchReport): string[] {
  const l = rep.load;
  return l === undefined ? [] : [`load average (1 min): ${l.start.toFixed(2)} at start, ${l.max.toFixed(2)} at most, ${l.end.toFixed(2)} at end, on ${rep.machine.cpuCount} CPUs`];
}

function cellText(c: Cell): string {
  if (c.status === 'skipped') return 'skipped';
  const s = c.summary;
  return s.samples.length > 1 ? `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})` : fmt(s.median);
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function renderTable(rep: BenchReport): string {
  const head = ['row', 'unit', 'better', 'OpenSSH median (min-max)', 'tlssh median (min-max)', 'tlssh/ssh', 'verdict'];
  const body = rep.rows.map((row) => {
    const r = ratio(row);
    return [`${row.id} ${row.title}`, row.unit, row.better, cellText(row.ssh), cellText(row.tlssh), r === undefined ? '-' : r.toFixed(2), verdict(row)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]): string => cols.map((c, i) => pad(c, widths[i]!)).join('  ').trimEnd();
  const out = [
    `tlssh vs OpenSSH, ${rep.mode} run, ${rep.machine.date}`,
    ...machineLines(rep.machine),
    ...loadLine(rep),
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ];
  const notes: string[] = [];
  const firstWith = new Map<string, string>();
  for (const row of rep.rows) {
    for (const [side, c] of [['ssh', row.ssh], ['tlssh', row.tlssh]] as const) {
      if (c.status === 'ok' && c.warning !== undefined) notes.push(`${row.id} ${side}: warning: ${c.warning}`);
      if (c.status !== 'skipped') continue;
      const first = firstWith.get(c.reason);
      notes.push(`${row.id} ${side}: skipped: ${first === undefined ? c.reason : `as ${first}`}`);
      if (first === undefined) firstWith.set(c.reason, row.id);
    }
    if (row.note) {
      const first = firstWith.get(row.note);
      notes.push(`${row.id}: ${first === undefined ? row.note : `as ${first}`}`);
      if (first === undefined) firstWith.set(row.note, row.id);
    }
  }
  if (notes.length > 0) out.push('', ...notes);
  const details = detailLines(rep.rows);
  if (details.length > 0) out.push('', ...details);
  out.push('', ...rep.setup.map((s) => `setup: ${s}`));
  return out.join('\n');
}

function detailLines(rows: Row[]): string[] {
  const out: string[] = [];
  for (const row of rows) {
    for (const [side, c] of [['ssh', row.ssh], ['tlssh', row.tlssh]] as const) {
      if (c.status !== 'ok' || c.detail === undefined) continue;
      out.push(`${row.id} ${side}: ${Object.entries(c.detail).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
  }
  return out;
}

/** The same table in Markdown, for bench/RESULTS.md and issues. */
export function renderMarkdown(rep: BenchReport): string {
  const lines = [
    `${rep.mode} run, ${rep.machine.date}`,
    '',
    ...[...machineLines(rep.machine), ...loadLine(rep)].map((l) => `- ${l}`),
    '',
    '| row | unit | better | OpenSSH median (min-max) | tlssh median (min-max) | tlssh/ssh | verdict |',
    '|---|---|---|---|---|---|---|',
    ...rep.rows.map((row) => {
      const r = ratio(row);
      return `| ${row.id} ${row.title.replace(/\|/g, '\\|')} | ${row.unit} | ${row.better} | ${cellText(row.ssh)} | ${cellText(row.tlssh)} | ${r === undefined ? '-' : r.toFixed(2)} | ${verdict(row)} |`;
    }),
    '',
    ...detailLines(rep.rows).map((l) => `- ${l}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes <stamp>.json, .svg and .md plus latest.* copies; returns the <stamp> paths. */
export function writeResults(dir: string, rep: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = `${rep.machine.date.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z')}-${rep.mode}`;
  const json = `${JSON.stringify(rep, null, 2)}\n`;
  const svg = renderSvg(rep);
  const md = renderMarkdown(rep);
  const paths: string[] = [];
  for (const [ext, body] of [['json', json], ['svg', svg], ['md', md]] as const) {
    for (const name of [stamp, 'latest']) {
      const path = join(dir, `${name}.${ext}`);
      writeFileSync(path, body);
      if (name === stamp) paths.push(path);
    }
  }
  return paths;
}
