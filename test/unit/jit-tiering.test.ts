// src/jit-tiering.ts against V8 itself: in a child node that can ask V8 which tier a
// function runs in, a hot function reaches TurboFan by default, stays below it once a terminal
// session started, and reaches it again once BULK_BYTES have been relayed.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { BULK_BYTES } from '../../src/jit-tiering';

const MODULE = path.resolve(__dirname, '..', '..', 'src', 'jit-tiering.js');

// Runs `hot` until V8 reports it optimised by TurboFan (bit 6 of %GetOptimizationStatus) or the
// rounds are spent. The child compiles on its main thread (--no-concurrent-recompilation), so a
// busy machine cannot starve a compile thread into a false "below".
const PROBE = `
const j = require(${JSON.stringify(MODULE)});
const make = (k) => new Function('a', 'let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * ' + k + '; return s;');
const data = Array.from({ length: 64 }, (_, i) => i);
function tier(f) {
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 20000; i++) f(data);
    if (%GetOptimizationStatus(f) & 64) return 'turbofan';
  }
  return 'below';
}
const seen = [];
seen.push('default:' + tier(make(2)) + ':' + j.jitMode());
j.noteRelayed(${BULK_BYTES} * 2);
seen.push('relayed-before:' + j.jitMode());
j.enterInteractive();
const f = make(3);
seen.push('interactive:' + tier(f) + ':' + j.jitMode());
j.noteRelayed(${BULK_BYTES} - 1);
seen.push('almost:' + tier(f) + ':' + j.jitMode());
j.noteRelayed(1);
seen.push('bulk:' + tier(f) + ':' + j.jitMode());
j.enterInteractive();
seen.push('again:' + tier(make(4)) + ':' + j.jitMode());
console.log(seen.join(' '));
`;

test('TurboFan is off from a terminal session until BULK_BYTES were relayed, then on for good', { timeout: 60_000 }, () => {
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', '-e', PROBE], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout.trim(),
    [
      'default:turbofan:default',
      // Bytes relayed outside a terminal session do not count towards anything.
      'relayed-before:default',
      'interactive:below:interactive',
      'almost:below:interactive',
      'bulk:turbofan:bulk',
      // A second terminal session in a process that went bulk keeps optimised code.
      'again:turbofan:bulk',
    ].join(' '),
  );
});
