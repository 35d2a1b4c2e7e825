#!/usr/bin/env node
// Runs the compiled node:test files: `node scripts/run-tests.js [unit|integration] [filter]`.
'use strict';
const { appendFileSync, readdirSync, existsSync, readFileSync, writeFileSync, rmSync } = require('node:fs');
const { basename, join } = require('node:path');
const { tmpdir } = require('node:os');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..', 'dist', 'test');
const kinds = ['unit', 'integration'];
const [only, filter] = process.argv.slice(2);
if (only && !kinds.includes(only)) {
  console.error(`usage: run-tests.js [${kinds.join('|')}] [name-filter]`);
  process.exit(2);
}
if (!existsSync(root)) {
  console.error('dist/test is missing: run `npm run build` first');
  process.exit(2);
}
const files = [];
for (const kind of only ? [only] : kinds) {
  const dir = join(root, kind);
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.test.js') && (!filter || f.includes(filter))) files.push(join(dir, f));
  }
}
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// The tests run bin/*, which run the bundles: bundle what tsc compiled last, so the tests never
// run stale code (a second or so; `npx tsc` alone does not bundle).
const b = spawnSync(process.execPath, [join(__dirname, 'bundle.js')], { stdio: 'inherit' });
if (b.status !== 0) process.exit(b.status ?? 1);
// A passing run leaves nothing in the temporary directory (test/helpers/ca.ts makeTempDir; a
// failing test file keeps its directories for inspection and says where). The bench's
// workspaces are its own and may be in use at the same time.
//
// Another run on the same machine (a mutation run, a second checkout) makes and, when its tests
// fail, keeps entries of the same names. So the helpers list what they make in a file of this
// run's (test/helpers/temp-registry.ts), and each run notes its start and end in a shared log: a
// listed leftover always fails the run; any other new entry fails it only when no other run
// overlapped this one, because then nothing but this run's code (a program under test) made it.
const ours = (name) => /^tlssh/.test(name) && !name.startsWith('tlssh-bench-');
const runsLog = join(tmpdir(), '.tlssh-test-runs.log');
const tempList = join(tmpdir(), `.tlssh-test-temp-${process.pid}`);
const DAY_MS = 24 * 3600 * 1000;
function noteRun(event) {
  // Appended, so that two runs noting at once lose neither line. Once the log has grown, a start
  // keeps only the last day's lines.
  if (event === 'start') {
    try {
      const text = readFileSync(runsLog, 'utf8');
      if (text.length > 64 * 1024) {
        writeFileSync(runsLog, text.split('\n').filter((l) => l && Date.now() - Number(l.split(' ')[2]) < DAY_MS).map((l) => `${l}\n`).join(''));
      }
    } catch {
      // first run
    }
  }
  appendFileSync(runsLog, `${process.pid} ${event} ${Date.now()}\n`);
}
function othersOverlapped(startedAt) {
  const runs = new Map();
  // In the order noted: a start opens a run, so a pid used again later is a new run.
  for (const l of readFileSync(runsLog, 'utf8').split('\n')) {
    const [pid, event, at] = l.split(' ');
    if (!pid || Number(pid) === process.pid) continue;
    if (event === 'start') runs.set(pid, { start: Number(at), end: Infinity });
    else if (runs.has(pid)) runs.get(pid).end = Number(at);
  }
  // A run with a start and no end is still going, or was killed: either way it may have left things.
  return [...runs.values()].some((run) => run.end >= startedAt);
}
const before = new Set(readdirSync(tmpdir()).filter(ours));
const startedAt = Date.now();
noteRun('start');
writeFileSync(tempList, '');
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], {
  stdio: 'inherit', env: { ...process.env, TLSSH_TEST_TEMP_LIST: tempList },
});
noteRun('end');
const listed = new Set(readFileSync(tempList, 'utf8').split('\n').filter(Boolean).map((p) => basename(p)));
rmSync(tempList, { force: true });
if (r.status === 0) {
  const fresh = readdirSync(tmpdir()).filter((n) => ours(n) && !before.has(n));
  const shared = othersOverlapped(startedAt);
  const left = fresh.filter((n) => listed.has(n) || !shared);
  if (left.length > 0) {
    console.error(`the tests passed but left these behind in ${tmpdir()}:\n${left.map((n) => `  ${n}\n`).join('')}`);
    process.exit(1);
  }
  const unsure = fresh.length - left.length;
  if (unsure > 0) console.error(`note: ${unsure} new ${tmpdir()}/tlssh* entries not checked: another test run overlapped this one`);
}
process.exit(r.status ?? 1);
