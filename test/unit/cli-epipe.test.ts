// `PROGRAM --help | head -1`: when stdout's reader has gone, the program ends quietly with status 0,
// as a C program ends by SIGPIPE, not with an EPIPE stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { ensureBundles } from '../helpers/bundles';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin');

function withReaderGone(program: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(BIN, program), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader goes away before the program has started, so its first write meets EPIPE.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

for (const program of ['tlsshd', 'tlssh-keygen', 'tlsshctl']) {
  test(`${program} --help into a closed pipe ends quietly with status 0`, async () => {
    ensureBundles();
    const r = await withReaderGone(program);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
  });
}
