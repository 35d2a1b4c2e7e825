import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { agentShort, agentText } from '../../src/ctl/format';
import { parseStat, processTreeLines, type ProcessInfo } from '../../src/ctl/process-tree';
import { LatencyWindow } from '../../src/tpm/agent-stats';

test('TPM latency percentiles cover the last samples only, by nearest rank', () => {
  const w = new LatencyWindow(100);
  assert.equal(w.percentile(50), null);
  for (let i = 1; i <= 100; i++) w.add(i);
  assert.equal(w.percentile(50), 50);
  assert.equal(w.percentile(99), 99);
  // 100 more, all slow: the fast ones have left the window.
  for (let i = 0; i < 100; i++) w.add(500);
  assert.equal(w.percentile(50), 500);
});

test('the key agent in status and top, or why there is none', () => {
  const a = { signs: 12, errors: 1, p50Ms: 3.14, p99Ms: 42, queue: 2, stalled: false };
  assert.equal(agentText(a), '12 signs, 1 errors, latency p50 3.1 ms p99 42 ms, queue 2');
  assert.equal(agentText({ ...a, p50Ms: null, p99Ms: null, stalled: true }), '12 signs, 1 errors, latency p50 - p99 -, queue 2, STALLED (TpmTimeout passed)');
  assert.equal(agentText(null), 'none (the server key is not in a TPM)');
  assert.equal(agentShort(a), 'TPM p50 3.1 ms p99 42 ms q 2 err 1');
  assert.equal(agentShort(null), 'TPM none');
});

test('the process tree of a session: the worker, its children indented, others left out', () => {
  // A comm with spaces and a parenthesis must not shift the fields.
  assert.deepEqual(parseStat('42 (a b) c) S 7 42 42 0 -1'), { comm: 'a b) c', ppid: 7 });
  const ps: ProcessInfo[] = [
    { pid: 1, ppid: 0, command: 'init' },
    { pid: 100, ppid: 1, command: 'tlsshd: alice@pts/3' },
    { pid: 101, ppid: 100, command: '-bash' },
    { pid: 103, ppid: 101, command: 'sleep 9' },
    { pid: 102, ppid: 101, command: 'vim notes' },
    { pid: 200, ppid: 1, command: 'tlsshd: bob@pts/4' },
  ];
  assert.deepEqual(processTreeLines(100, ps), ['100 tlsshd: alice@pts/3', '  101 -bash', '    102 vim notes', '    103 sleep 9']);
  assert.deepEqual(processTreeLines(100, ps, 3), ['100 tlsshd: alice@pts/3', '  101 -bash', '... 2 more processes']);
  assert.deepEqual(processTreeLines(999, ps), []);
});
