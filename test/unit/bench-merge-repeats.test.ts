// The throughput rows run one repeat of each column in turn and merge each column's repeats
// (bench/run.ts `alternating`): every repeat's figure is a sample, details are medians or sums.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alternating, mergeRepeats, skipped, type Cell } from '../../bench/result';
import { summarize } from '../../bench/lib/stats';

const one = (mbps: number, detail: Record<string, number | string>, warning?: string): Cell => ({
  status: 'ok', summary: summarize([mbps]), detail, ...(warning ? { warning } : {}),
});

test('repeats become the samples of one cell; details are medians, or sums where asked', () => {
  const cell = mergeRepeats([
    one(400, { bytes: 8, serverCoresBusy: 0.9, runsWithLostOutput: 0 }),
    one(500, { bytes: 8, serverCoresBusy: 0.7, runsWithLostOutput: 1 }, 'lost 3 bytes'),
    one(450, { bytes: 8, serverCoresBusy: 0.8, runsWithLostOutput: 1 }, 'lost 5 bytes'),
  ], ['runsWithLostOutput']);
  assert.equal(cell.status, 'ok');
  if (cell.status !== 'ok') return;
  assert.deepEqual(cell.summary.samples, [400, 500, 450]);
  assert.equal(cell.summary.median, 450);
  assert.equal(cell.summary.min, 400);
  assert.equal(cell.summary.max, 500);
  assert.deepEqual(cell.detail, { bytes: 8, serverCoresBusy: 0.8, runsWithLostOutput: 2 });
  assert.equal(cell.warning, 'lost 3 bytes; lost 5 bytes');
});

test('one failed repeat fails the column', () => {
  const bad = skipped('failed: connection refused');
  assert.deepEqual(mergeRepeats([one(400, {}), bad, one(410, {})]), bad);
  assert.equal(mergeRepeats([]).status, 'skipped');
});

test('the columns take turns, one repeat each', async () => {
  const order: string[] = [];
  const cells = await alternating('ssh', 'tlssh', 3, (t) => {
    order.push(t);
    return Promise.resolve(one(t === 'ssh' ? 100 + order.length : 200 + order.length, {}));
  });
  assert.deepEqual(order, ['ssh', 'tlssh', 'ssh', 'tlssh', 'ssh', 'tlssh']);
  assert.ok(cells.ssh.status === 'ok' && cells.tlssh.status === 'ok');
  assert.deepEqual(cells.ssh.summary.samples, [101, 103, 105]);
  assert.deepEqual(cells.tlssh.summary.samples, [202, 204, 206]);
});
