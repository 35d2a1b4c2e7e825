import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { LoginRecords } from '../../src/server/login-records';
import { UTMP_SIZE, UT_TYPE, decodeUtmp } from '../../src/server/utmp-record';

function records(file: string): ReturnType<typeof decodeUtmp>[] {
  const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const out = [];
  for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) out.push(decodeUtmp(data.subarray(off, off + UTMP_SIZE)));
  return out;
}

function setup(): { dir: string; utmp: string; wtmp: string; state: string; make: () => LoginRecords; errors: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-records-'));
  const utmp = path.join(dir, 'utmp');
  const wtmp = path.join(dir, 'wtmp');
  const state = path.join(dir, 'sessions');
  const errors: string[] = [];
  const make = (): LoginRecords => new LoginRecords({
    utmpPath: utmp, wtmpPath: wtmp, stateDir: state, pollMs: 50,
    log: (level, m) => { if (level === 'error') errors.push(m); },
  });
  return { dir, utmp, wtmp, state, make, errors };
}

test('login writes utmp and wtmp; logout marks the slot dead and appends to wtmp', async () => {
  const s = setup();
  const r = s.make();
  await r.login({ pid: process.pid, line: 'pts/41', user: 'bob', host: '198.51.100.2' });
  assert.deepEqual(records(s.utmp).map((x) => [x.type, x.user, x.line]), [[UT_TYPE.user, 'bob', 'pts/41']]);
  assert.equal(fs.readdirSync(s.state).length, 1);
  await r.logout(process.pid);
  const u = records(s.utmp);
  assert.equal(u.length, 1, 'the slot is reused, not appended');
  assert.equal(u[0]?.type, UT_TYPE.dead);
  assert.equal(u[0]?.user, '');
  assert.deepEqual(records(s.wtmp).map((x) => x.type), [UT_TYPE.user, UT_TYPE.dead]);
  assert.deepEqual(fs.readdirSync(s.state), []);
  assert.deepEqual(s.errors, []);
});

test('a second login on the same line reuses the dead slot', async () => {
  const s = setup();
  const r = s.make();
  await r.login({ pid: process.pid, line: 'pts/42', user: 'bob', host: 'h' });
  await r.logout(process.pid);
  await r.login({ pid: process.pid, line: 'pts/42', user: 'carol', host: 'h' });
  assert.deepEqual(records(s.utmp).map((x) => x.user), ['carol']);
});

test('a new listener closes records of sessions that ended while nobody listened', async () => {
  const s = setup();
  const child = spawn('sleep', ['60']);
  const pid = child.pid!;
  await s.make().login({ pid, line: 'pts/43', user: 'dave', host: 'h' });
  // The first listener is gone; a second one adopts the still-running session...
  const second = s.make();
  await second.adoptOrphans();
  assert.ok(second.isOpen(pid));
  assert.equal(records(s.utmp)[0]?.type, UT_TYPE.user);
  // ...and writes its logout once the process ends.
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  for (let i = 0; i < 200 && second.isOpen(pid); i++) await new Promise((r) => setTimeout(r, 20));
  await second.flush();
  second.stop();
  assert.equal(records(s.utmp)[0]?.type, UT_TYPE.dead);
  assert.deepEqual(records(s.wtmp).map((x) => x.type), [UT_TYPE.user, UT_TYPE.dead]);
});

test('an orphan record whose process is already gone is closed at once', async () => {
  const s = setup();
  const child = spawn('sleep', ['60']);
  const pid = child.pid!;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await s.make().login({ pid, line: 'pts/44', user: 'erin', host: 'h' });
  child.kill('SIGKILL');
  await exited;
  // Reap fully so /proc/<pid> is gone.
  await new Promise((r) => setTimeout(r, 50));
  const second = s.make();
  await second.adoptOrphans();
  second.stop();
  assert.equal(second.isOpen(pid), false);
  assert.equal(records(s.utmp)[0]?.type, UT_TYPE.dead);
});
