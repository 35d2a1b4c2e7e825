// All three programs answer an unknown option the way ssh does: their own name, the option,
// the usage line, exit status 255 — never commander's bare "error: unknown option".

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin');

for (const program of ['tlssh', 'tlsshd', 'tlssh-keygen']) {
  test(`${program}: unknown option gives "${program}: unknown option", the usage, exit 255`, () => {
    const r = spawnSync(process.execPath, [path.join(BIN, program), '-Z'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 255, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n');
    assert.equal(lines[0], `${program}: unknown option '-Z'`);
    assert.match(lines[1] ?? '', new RegExp(`^usage: ${program} `));
  });
}
