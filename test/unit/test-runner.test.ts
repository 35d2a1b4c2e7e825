// scripts/run-tests.js fails a passing run that leaves anything named tlssh* in the temporary
// directory, and tells its own leftovers from those of another run on the same machine. Run here
// on a stand-in suite of one test file, with a temporary directory (and so a runs log) of its own.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from '../helpers/ca';

const REAL_RUNNER = path.resolve(__dirname, '..', '..', '..', 'scripts', 'run-tests.js');

// LEAVE says what the one test leaves: a directory it lists for the runner (as the helpers do),
// one it does not (as a program under test might), or nothing.
const LEAVING_TEST = `
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
test('leaves what LEAVE says', () => {
  const leave = process.env.LEAVE;
  if (leave === 'listed') fs.appendFileSync(process.env.TLSSH_TEST_TEMP_LIST, fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-listed-')) + '\\n');
  if (leave === 'unlisted') fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-unlisted-'));
});
`;

/** What the runs log holds before a run: nobody else, another run still going, or one that ended earlier. */
type Others = 'none' | 'open' | 'ended';

function standIn(): (leave: string, others: Others) => { status: number | null; stderr: string; log: string } {
  const root = makeTempDir('tlssh-runner-test');
  fs.mkdirSync(path.join(root, 'scripts'));
  fs.copyFileSync(REAL_RUNNER, path.join(root, 'scripts', 'run-tests.js'));
  fs.writeFileSync(path.join(root, 'scripts', 'bundle.js'), 'process.exit(0);\n');
  fs.mkdirSync(path.join(root, 'dist', 'test', 'unit'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dist', 'test', 'unit', 'leaving.test.js'), LEAVING_TEST);
  const tmp = path.join(root, 'tmp');
  fs.mkdirSync(tmp);
  const log = path.join(tmp, '.tlssh-test-runs.log');
  return (leave, others) => {
    const now = Date.now();
    const before = { none: '', open: `999999999 start ${now - 1000}\n`, ended: `999999999 start ${now - 3000}\n999999999 end ${now - 2000}\n` }[others];
    fs.writeFileSync(log, before);
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, LEAVE: leave };
    // Not a child of this test run: its own list, and node:test not told it runs inside one.
    delete env['TLSSH_TEST_TEMP_LIST'];
    delete env['NODE_TEST_CONTEXT'];
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'run-tests.js'), 'unit'], { env, encoding: 'utf8' });
    for (const name of fs.readdirSync(tmp)) if (name.startsWith('tlssh')) fs.rmSync(path.join(tmp, name), { recursive: true });
    return { status: r.status, stderr: r.stderr, log: fs.readFileSync(log, 'utf8').slice(before.length) };
  };
}

test('a passing run that leaves a tlssh* entry fails and names it; one that leaves nothing passes', () => {
  const run = standIn();
  const clean = run('nothing', 'none');
  assert.equal(clean.status, 0, clean.stderr);
  // Its own start and end, appended to the shared log.
  assert.match(clean.log, /^\d+ start \d+\n\d+ end \d+\n$/);
  for (const leave of ['listed', 'unlisted']) {
    const r = run(leave, 'none');
    assert.equal(r.status, 1, `${leave}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`left these behind in .*\\n  tlssh-${leave}-`), leave);
  }
});

test('with another run at the same time, only what this run listed fails it; the rest is noted', () => {
  const run = standIn();
  const listed = run('listed', 'open');
  assert.equal(listed.status, 1, listed.stderr);
  assert.match(listed.stderr, /tlssh-listed-/);
  const unlisted = run('unlisted', 'open');
  assert.equal(unlisted.status, 0, unlisted.stderr);
  assert.match(unlisted.stderr, /note: 1 new .*tlssh\* entries not checked: another test run overlapped this one/);
});

test('a run that ended before this one started is no reason to look away', () => {
  const r = standIn()('unlisted', 'ended');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /tlssh-unlisted-/);
});
