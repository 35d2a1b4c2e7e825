// CI's run of the hostile-input suite (npm run fuzz): about 20k frames with a fixed seed, small
// floods, against a real tlsshd. It fails only as the fuzzer does: the canary session died, the
// daemon stopped serving logins, or the codec threw something other than its frame errors or
// buffered without bound. The flood figures are printed, never asserted.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { it } from 'node:test';
import type { FuzzReport } from '../fuzz/run-fuzz';

const MAIN = path.resolve(__dirname, '..', 'fuzz', 'main.js');

it('survives a short fuzz run: the canary lives, the daemon still serves logins, the codec keeps its contract', { timeout: 240_000 }, async () => {
  const child = spawn(process.execPath, [MAIN, '--short', '--seed', '7', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const status = await new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  process.stderr.write(err);
  const report = JSON.parse(out) as FuzzReport;
  assert.ok(report.framesSent >= 19_000, `only ${report.framesSent} frames were sent`);
  assert.ok(report.live.connections > 0 && report.live.frames > 0, 'no live connection was fuzzed');
  assert.deepEqual(report.codec.findings, []);
  assert.equal(report.canarySurvived, true, report.canaryFailures.join('; '));
  assert.equal(report.daemonAnswers, true);
  assert.equal(status, 0, report.failures.join('; '));
});
