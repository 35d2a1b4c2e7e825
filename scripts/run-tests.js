#!/usr/bin/env node
// Runs the compiled node:test files: `node scripts/run-tests.js [unit|integration] [filter]`.
'use strict';
const { readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
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
const ours = (name) => /^tlssh/.test(name) && !name.startsWith('tlssh-bench-');
const before = new Set(readdirSync(tmpdir()).filter(ours));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], { stdio: 'inherit' });
if (r.status === 0) {
  const left = readdirSync(tmpdir()).filter((n) => ours(n) && !before.has(n));
  if (left.length > 0) {
    console.error(`the tests passed but left these behind in ${tmpdir()}:\n${left.map((n) => `  ${n}\n`).join('')}`);
    process.exit(1);
  }
}
process.exit(r.status ?? 1);
