// Every option a program's --help lists is in its man page, and every option its man page
// describes (an `.It Fl` entry) is in --help: a flag added to one and not the other is a
// documentation bug an administrator meets at once.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ensureBundles } from '../helpers/bundles';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAN: Readonly<Record<string, string>> = {
  tlssh: 'man/tlssh.1',
  tlsshd: 'man/tlsshd.8',
  'tlssh-keygen': 'man/tlssh-keygen.1',
  tlsshctl: 'man/tlsshctl.8',
};
const OPTION = /(?<![\w-])(--?[A-Za-z0-9][\w-]*)/g;

/** The options --help names: the first column of its option lines, and its "Long forms" line. */
function helpOptions(help: string): Set<string> {
  const out = new Set<string>();
  for (const line of help.split('\n')) {
    const longForms = line.startsWith('Long forms:') || /^--[a-z]/.test(line);
    // Option lines start near the margin; a description's own lines are indented further.
    if (!longForms && !/^\s{1,4}-/.test(line)) continue;
    const named = longForms ? line : (line.trim().split(/\s{2,}/)[0] ?? '');
    for (const m of named.matchAll(OPTION)) out.add(m[1]!);
  }
  return out;
}

/** The options the man page describes: each `Fl` on an `.It` line. */
function manOptions(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('.It Fl')) continue;
    for (const m of line.matchAll(/\bFl (-?[A-Za-z0-9][\w-]*)/g)) out.add(`-${m[1]!}`);
  }
  return out;
}

for (const [program, man] of Object.entries(MAN)) {
  test(`${program}: --help and ${path.basename(man)} name the same options`, () => {
    ensureBundles();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', program), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const help = helpOptions(r.stdout + r.stderr);
    const documented = manOptions(fs.readFileSync(path.join(ROOT, man), 'utf8'));
    assert.ok(help.size > 5 && documented.size > 5, `${help.size} and ${documented.size} options found`);
    assert.deepEqual([...help].filter((o) => !documented.has(o)).sort(), [], `in --help, not in ${man}`);
    assert.deepEqual([...documented].filter((o) => !help.has(o)).sort(), [], `in ${man}, not in --help`);
  });
}
