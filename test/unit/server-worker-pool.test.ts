// The warm worker pool's growth rule with real child processes: a connection that finds no
// worker ready doubles how many are kept, up to max, and never past MaxStartups' room; a worker
// that finished its warm-up is taken before one still starting.

import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkerPool, type PoolPolicy } from '../../src/server/worker-pool';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-pool-'));
/** Stays up until its IPC channel closes; answers the warm-up only when told to in argv. */
const script = path.join(dir, 'worker.js');
fs.writeFileSync(script, `
process.on('message', (m) => {
  if (m && m.t === 'warm' && process.argv[2] === 'answer') process.send({ t: 'warmed', generation: m.generation });
});
process.on('disconnect', () => process.exit(0));
`);

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function pool(policy: PoolPolicy, opts: { answer?: boolean; room?: () => number; log?: (line: string) => void } = {}): WorkerPool {
  return new WorkerPool({
    spawn: () => {
      const c = fork(script, opts.answer ? ['answer'] : [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      children.push(c);
      return c;
    },
    warmMessage: (generation) => ({ t: 'warm', generation, config: {} as never, logSink: 'stderr' }),
    policy: () => policy,
    room: opts.room ?? (() => 100),
    log: opts.log ?? (() => undefined),
  });
}

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(pred());
}

describe('warm worker pool', () => {
  it('doubles what it keeps ready when a connection finds none ready, up to max', () => {
    const p = pool({ min: 1, max: 4, idleTimeoutMs: 0 });
    p.fill();
    assert.deepEqual(p.view(), { warmWorkers: 1, warmReady: 0, warmTarget: 1 });
    // These workers never finish their warm-up: every take is one that found none ready.
    assert.equal(p.take()?.warmed, false);
    assert.deepEqual(p.view(), { warmWorkers: 2, warmReady: 0, warmTarget: 2 });
    p.take();
    assert.deepEqual(p.view(), { warmWorkers: 4, warmReady: 0, warmTarget: 4 });
    p.take();
    assert.deepEqual(p.view(), { warmWorkers: 4, warmReady: 0, warmTarget: 4 });
    p.stop();
  });

  it('starts no extra worker past MaxStartups room', () => {
    const p = pool({ min: 1, max: 8, idleTimeoutMs: 0 }, { room: () => 2 });
    p.fill();
    p.take();
    p.take();
    p.take();
    assert.equal(p.view().warmTarget, 8);
    assert.equal(p.view().warmWorkers, 2);
    p.stop();
  });

  it('takes a worker that finished its warm-up, and then does not grow', async () => {
    const p = pool({ min: 2, max: 8, idleTimeoutMs: 0 }, { answer: true });
    p.fill();
    await until(() => p.view().warmReady === 2);
    const t = p.take();
    assert.equal(t?.warmed, true);
    assert.equal(t?.generation, 0);
    assert.equal(p.view().warmTarget, 2);
    p.retire();
    assert.equal(p.currentGeneration, 1);
    await until(() => p.view().warmReady === 2);
    assert.equal(p.take()?.generation, 1);
    p.stop();
  });

  it('says why warm workers were retired: a new configuration, or only the log opened again', async () => {
    const lines: string[] = [];
    const p = pool({ min: 1, max: 1, idleTimeoutMs: 0 }, { answer: true, log: (l) => lines.push(l) });
    p.fill();
    await until(() => p.view().warmReady === 1);
    p.retire();
    await until(() => p.view().warmReady === 1);
    // A reload the new configuration failed still reopens the log (logrotate): no configuration changed.
    p.retire('set up before the log was opened again');
    assert.deepEqual(lines, ['reload: 1 warm worker(s) of the old configuration retired', 'reload: 1 warm worker(s) set up before the log was opened again retired']);
    p.stop();
  });
});
