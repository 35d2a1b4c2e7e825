// Row 5 of the benchmark, driven against a local `cat` in a real PTY instead of a remote one: the
// row's figures come back, and with warm keystrokes asked for, the detail carries the figures of
// the session's later keystrokes, which RESULTS.md uses to tell the JIT's warm-up from the rest.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echoLatency } from '../../bench/rows/echo-latency';
import type { ClientOptions, Target } from '../../bench/target';

// The "client" is the shell the row would run remotely, run here: the row only needs a process
// in its PTY that says READY and then echoes each byte.
const local: Target = {
  side: 'tlssh',
  label: 'local cat',
  clientArgv: (o: ClientOptions) => ['sh', '-c', o.command ?? 'exec cat'],
  serverPid: () => process.pid,
  serverCpuMs: () => undefined,
};

test('the echo row reports p50 and p99, and no warm figures unless asked', async () => {
  const cells = await echoLatency(local, 30, 1);
  assert.equal(cells.p50.status, 'ok');
  assert.equal(cells.p99.status, 'ok');
  if (cells.p50.status !== 'ok' || cells.p99.status !== 'ok') return;
  assert.ok(cells.p50.summary.median > 0 && cells.p50.summary.median <= cells.p99.summary.median);
  assert.equal(cells.p50.detail?.['bytesPerRun'], 30);
  assert.equal(cells.p50.detail?.['warmP99us'], undefined);
});

test('with warm keystrokes, the detail has the figures of the last window and which keystrokes they are', async () => {
  const cells = await echoLatency(local, 30, 1, 60);
  assert.equal(cells.p99.status, 'ok');
  if (cells.p99.status !== 'ok') return;
  const d = cells.p99.detail ?? {};
  // 20 keystrokes of warm-up, 30 measured, then 60 more of which the last 30 are the window.
  assert.equal(d['warmKeystrokes'], '81-110');
  assert.equal(typeof d['warmP50us'], 'number');
  assert.equal(typeof d['warmP99us'], 'number');
  assert.ok((d['warmP50us'] as number) > 0 && (d['warmP50us'] as number) <= (d['warmP99us'] as number));
});
