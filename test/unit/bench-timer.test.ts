// The benchmark times client commands from a small process of its own (bench/lib/timer-child.ts),
// as a shell's `time` would. What the rows rely on: the command's status, output and time come
// back, with the CPU of the commands it has reaped (row 2's client CPU per login); a time limit
// kills it; an interrupted run (killTracked) leaves no command running; and the timing process
// never keeps the benchmark from exiting.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { killTracked, runTimed } from '../../bench/lib/proc';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-bench-timer-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
// Whatever the tests found, the timing process of this file goes with it.
after(() => killTracked());

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('a command\'s status, stdout, stderr and time come back', async () => {
  const r = await runTimed(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.signal, null);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.ok(r.ms > 0 && r.ms < 60_000, String(r.ms));
});

test('each reply carries the CPU of the commands reaped so far, so a busy command shows in it', async () => {
  const before = await runTimed(['true']);
  assert.ok(Number.isFinite(before.reapedCpuMs) && before.reapedCpuMs >= 0, String(before.reapedCpuMs));
  // A fixed amount of work, hundreds of ms of CPU on any machine this runs on: the figure is
  // counted work, not a time limit.
  const busy = await runTimed(['sh', '-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done']);
  assert.equal(busy.code, 0);
  assert.ok(busy.reapedCpuMs - before.reapedCpuMs >= 50, `${before.reapedCpuMs} then ${busy.reapedCpuMs} ms`);
});

test('the environment given is the command\'s', async () => {
  const r = await runTimed(['sh', '-c', 'echo "$TLSSH_TIMER_PROBE"'], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TLSSH_TIMER_PROBE: 'seen' } });
  assert.equal(r.stdout, 'seen\n');
});

test('a command over its time limit is killed', async () => {
  const r = await runTimed(['sleep', '30'], { timeoutMs: 200 });
  assert.equal(r.signal, 'SIGKILL');
});

test('a command that cannot start is an error, not a hang', async () => {
  await assert.rejects(runTimed([path.join(tmp, 'no-such-program')]), /no-such-program/);
});

test('an interrupted run ends the commands still running', async () => {
  const pidFile = path.join(tmp, 'pid');
  const running = runTimed(['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`]);
  await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').endsWith('\n'), 'the command to start');
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(alive(pid));
  killTracked();
  await assert.rejects(running, /timing process ended/);
  await waitFor(() => !alive(pid), `pid ${pid} to end`);
  // And the next command gets a new timing process.
  assert.equal((await runTimed(['true'])).code, 0);
});

test('the timing process does not keep the benchmark alive once its commands are done', () => {
  const proc = path.join(__dirname, '..', '..', 'bench', 'lib', 'proc.js');
  const script = `require(${JSON.stringify(proc)}).runTimed(['true']).then((r) => process.stdout.write('status ' + r.code));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined, 'the benchmark did not exit');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'status 0');
});
