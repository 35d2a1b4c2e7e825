import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import * as pty from 'node-pty';
import { LoginRecords, isWorkerProcess } from '../../src/server/login-records';
import { UTMP_SIZE, UT_TYPE, decodeUtmp, encodeUtmp } from '../../src/server/utmp-record';

function records(file: string): ReturnType<typeof decodeUtmp>[] {
  const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const out = [];
  for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) out.push(decodeUtmp(data.subarray(off, off + UTMP_SIZE)));
  return out;
}

const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function setup(): { dir: string; utmp: string; wtmp: string; state: string; make: () => LoginRecords; errors: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-records-'));
  dirs.push(dir);
  const utmp = path.join(dir, 'utmp');
  const wtmp = path.join(dir, 'wtmp');
  const state = path.join(dir, 'sessions');
  const errors: string[] = [];
  const make = (): LoginRecords => new LoginRecords({
    // No lastlog: root running the tests would write the system's for whoever logs in here.
    utmpPath: utmp, wtmpPath: wtmp, lastlogPath: '', stateDir: state, pollMs: 50,
    log: (level, m) => { if (level === 'error') errors.push(m); },
  });
  return { dir, utmp, wtmp, state, make, errors };
}

/** Whoever runs the tests, and a real terminal they own: a live session is adopted only then. */
const me = os.userInfo().username;
const stranger = me === 'root' ? 'nobody' : 'root';
const terms: pty.IPty[] = [];
function myTty(n = 0): string {
  while (terms.length <= n) terms.push(pty.spawn('sleep', ['600'], { name: 'dumb', cols: 80, rows: 24 }));
  return (terms[n] as unknown as { ptsName: string }).ptsName.replace(/^\/dev\//, '');
}
after(() => { for (const t of terms) t.kill('SIGKILL'); });

/** A process that looks like a tlsshd worker (argv[1] is a worker-main.js), as sessions' pids are. */
function spawnWorkerLike(dir: string): ChildProcess {
  const script = path.join(dir, 'worker-main.js');
  fs.writeFileSync(script, 'setInterval(() => {}, 1e6);\n');
  return spawn(process.execPath, [script], { stdio: 'ignore' });
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
  const child = spawnWorkerLike(s.dir);
  const pid = child.pid!;
  await waitForWorkerLike(pid);
  await s.make().login({ pid, line: myTty(), user: me, host: 'h' });
  // The first listener is gone; a second one adopts the still-running session...
  const second = s.make();
  await second.adoptOrphans();
  if (!second.isOpen(pid)) child.kill('SIGKILL');
  assert.ok(second.isOpen(pid), s.errors.join(' | '));
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

/* Symlink attacks and forged records: RuntimeDir/sessions is root's, and nothing in it is believed blindly. */

async function waitForWorkerLike(pid: number): Promise<void> {
  for (let i = 0; i < 200 && !isWorkerProcess(pid); i++) await new Promise((r) => setTimeout(r, 10));
}

test('a symlink planted at sessions/.PID.tmp is not written through', async () => {
  const s = setup();
  const victim = path.join(s.dir, 'victim');
  fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
  fs.mkdirSync(s.state, { mode: 0o700 });
  fs.symlinkSync(victim, path.join(s.state, `.${process.pid}.tmp`));
  const r = s.make();
  await r.login({ pid: process.pid, line: 'pts/45', user: 'bob', host: 'h' });
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the symlink target is untouched');
  assert.equal(fs.statSync(victim).mode & 0o777, 0o644);
  const rec = fs.lstatSync(path.join(s.state, `${process.pid}.json`));
  assert.ok(rec.isFile(), 'the record is a regular file of its own');
  assert.equal(rec.mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(s.state), [`${process.pid}.json`], 'the planted link is gone');
  assert.deepEqual(s.errors, []);
});

test('a symlink planted at the session file is replaced, not followed, and never read back', async () => {
  const s = setup();
  const victim = path.join(s.dir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.mkdirSync(s.state, { mode: 0o700 });
  fs.symlinkSync(victim, path.join(s.state, `${process.pid}.json`));
  await s.make().login({ pid: process.pid, line: 'pts/46', user: 'bob', host: 'h' });
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(fs.lstatSync(path.join(s.state, `${process.pid}.json`)).isFile());

  // A record reached through a symlink is not adopted, even when what it points at is valid.
  const child = spawnWorkerLike(s.dir);
  const pid = child.pid!;
  await waitForWorkerLike(pid);
  try {
    await s.make().login({ pid, line: 'pts/47', user: 'carol', host: 'h' });
    const real = path.join(s.dir, 'elsewhere.json');
    fs.renameSync(path.join(s.state, `${pid}.json`), real);
    fs.symlinkSync(real, path.join(s.state, `${pid}.json`));
    const wtmpBefore = fs.readFileSync(s.wtmp);
    const second = s.make();
    await second.adoptOrphans();
    second.stop();
    assert.equal(second.isOpen(pid), false, 'adopted through a symlink');
    assert.ok(s.errors.some((e) => e.includes(`${pid}.json: a symbolic link`)), s.errors.join('\n'));
    assert.deepEqual(fs.readFileSync(s.wtmp), wtmpBefore, 'no wtmp record written');
  } finally {
    child.kill('SIGKILL');
  }
});

test('forged session records are not adopted and make no utmp or wtmp record', async () => {
  const s = setup();
  const worker = spawnWorkerLike(s.dir);
  const worker2 = spawnWorkerLike(s.dir);
  const sleeper = spawn('sleep', ['60']);
  const wpid = worker.pid!;
  const w2pid = worker2.pid!;
  const spid = sleeper.pid!;
  await waitForWorkerLike(wpid);
  await waitForWorkerLike(w2pid);
  try {
    // Genuine logins in utmp for the processes, made by a first listener; then the records are
    // swapped for forgeries.
    const first = s.make();
    await first.login({ pid: wpid, line: myTty(), user: me, host: 'h' });
    await first.login({ pid: spid, line: 'pts/49', user: 'erin', host: 'h' });
    await first.login({ pid: w2pid, line: myTty(1), user: stranger, host: 'h' });
    const good = JSON.parse(fs.readFileSync(path.join(s.state, `${wpid}.json`), 'utf8')) as Record<string, unknown>;
    const sleeperRecord = fs.readFileSync(path.join(s.state, `${spid}.json`));
    const strangerRecord = fs.readFileSync(path.join(s.state, `${w2pid}.json`));
    const write = (name: string, body: unknown, mode = 0o600): void => {
      const f = path.join(s.state, name);
      fs.writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body), { mode });
      fs.chmodSync(f, mode);
    };
    fs.rmSync(path.join(s.state, `${wpid}.json`));
    const forged: Array<[string, () => void]> = [
      ['world-readable', () => write(`${wpid}.json`, good, 0o644)],
      ['group-readable', () => write(`${wpid}.json`, good, 0o640)],
      ['group-writable', () => write(`${wpid}.json`, good, 0o620)],
      ['pid other than its name', () => write('424242.json', good)],
      ['no such login in utmp', () => write('424243.json', { ...good, pid: 424243 })],
      ['a line that is not a pts', () => write(`${wpid}.json`, { ...good, line: '../../etc/x' })],
      ['a user that is not a user name', () => write(`${wpid}.json`, { ...good, user: 'a b' })],
      ['not JSON', () => write(`${wpid}.json`, '{')],
      ['too big', () => write(`${wpid}.json`, JSON.stringify(good) + ' '.repeat(8192))],
      ['a live process that is not a worker', () => fs.writeFileSync(path.join(s.state, `${spid}.json`), sleeperRecord, { mode: 0o600 })],
      ['a terminal its user does not own', () => fs.writeFileSync(path.join(s.state, `${w2pid}.json`), strangerRecord, { mode: 0o600 })],
    ];
    if (process.getuid?.() === 0) {
      forged.push(['owned by another user', () => { write(`${wpid}.json`, good); fs.chownSync(path.join(s.state, `${wpid}.json`), 65534, 65534); }]);
    }
    for (const [what, make] of forged) {
      for (const f of fs.readdirSync(s.state)) fs.rmSync(path.join(s.state, f));
      make();
      const utmpBefore = fs.readFileSync(s.utmp);
      const wtmpBefore = fs.readFileSync(s.wtmp);
      s.errors.length = 0;
      const r = s.make();
      await r.adoptOrphans();
      r.stop();
      assert.equal(r.isOpen(wpid) || r.isOpen(w2pid) || r.isOpen(spid) || r.isOpen(424242) || r.isOpen(424243), false, `${what}: adopted`);
      assert.deepEqual(fs.readFileSync(s.utmp), utmpBefore, `${what}: utmp written`);
      assert.deepEqual(fs.readFileSync(s.wtmp), wtmpBefore, `${what}: wtmp written`);
      assert.equal(s.errors.length, 1, `${what}: one log line (${s.errors.join(' | ')})`);
      assert.deepEqual(fs.readdirSync(s.state), [], `${what}: the forged file is removed`);
    }
    // The control: the genuine record is adopted.
    write(`${wpid}.json`, good);
    const r = s.make();
    await r.adoptOrphans();
    r.stop();
    assert.equal(r.isOpen(wpid), true, 'the genuine record is adopted');
  } finally {
    worker.kill('SIGKILL');
    worker2.kill('SIGKILL');
    sleeper.kill('SIGKILL');
  }
});

test('records in a sessions directory others can write, or behind a symlink, are not adopted', async () => {
  const s = setup();
  const child = spawnWorkerLike(s.dir);
  const pid = child.pid!;
  await waitForWorkerLike(pid);
  try {
    await s.make().login({ pid, line: 'pts/50', user: 'frank', host: 'h' });
    const check = async (what: string): Promise<void> => {
      s.errors.length = 0;
      const r = s.make();
      await r.adoptOrphans();
      r.stop();
      assert.equal(r.isOpen(pid), false, `${what}: adopted`);
      assert.ok(s.errors.some((e) => e.includes('not adopting earlier sessions')), `${what}: ${s.errors.join(' | ')}`);
    };
    fs.chmodSync(s.state, 0o777);
    await check('world-writable');
    fs.chmodSync(s.state, 0o700);
    const moved = path.join(s.dir, 'moved-sessions');
    fs.renameSync(s.state, moved);
    fs.symlinkSync(moved, s.state);
    await check('a symlink');
  } finally {
    child.kill('SIGKILL');
  }
});

test('one worker with several PTY sessions (a shared connection): a record each, closed one by one or all at its end', async () => {
  const s = setup();
  const r = s.make();
  const pid = process.pid;
  await r.login({ pid, line: 'pts/51', user: 'bob', host: 'h' });
  await r.login({ pid, line: 'pts/52', user: 'bob', host: 'h' });
  await r.login({ pid, line: 'pts/53', user: 'bob', host: 'h' });
  assert.deepEqual(records(s.utmp).map((x) => [x.type, x.line]), [[UT_TYPE.user, 'pts/51'], [UT_TYPE.user, 'pts/52'], [UT_TYPE.user, 'pts/53']]);
  assert.deepEqual(fs.readdirSync(s.state).sort(), [`${pid}-52.json`, `${pid}-53.json`, `${pid}.json`]);
  assert.ok(r.isOpen(pid, 'pts/52'));
  await r.logoutLine(pid, 'pts/52');
  assert.equal(r.isOpen(pid, 'pts/52'), false);
  assert.deepEqual(records(s.utmp).map((x) => x.type), [UT_TYPE.user, UT_TYPE.dead, UT_TYPE.user]);
  // A new listener adopts the records still open, whatever their file's name.
  const child = spawnWorkerLike(s.dir);
  try {
    const again = s.make();
    await again.adoptOrphans();
    // Our own pid is not a worker's: the records are distrusted and dropped, one error each.
    assert.equal(s.errors.length, 2, s.errors.join('\n'));
  } finally {
    child.kill('SIGKILL');
  }
  await r.logout(pid);
  assert.deepEqual(records(s.utmp).map((x) => x.type), [UT_TYPE.dead, UT_TYPE.dead, UT_TYPE.dead]);
  assert.deepEqual(records(s.wtmp).map((x) => [x.type, x.line]), [
    [UT_TYPE.user, 'pts/51'], [UT_TYPE.user, 'pts/52'], [UT_TYPE.user, 'pts/53'],
    [UT_TYPE.dead, 'pts/52'], [UT_TYPE.dead, 'pts/51'], [UT_TYPE.dead, 'pts/53'],
  ]);
});

test('logout closes only our own record: a login of another process on the same line is left alone', async () => {
  const s = setup();
  const r = s.make();
  await r.login({ pid: process.pid, line: 'pts/43', user: 'bob', host: 'h' });
  // Someone else (another login program) has since taken the line's slot for a process of its own.
  const [ours] = records(s.utmp);
  assert.ok(ours);
  const theirs = { ...ours, pid: process.pid + 1, user: 'carol' };
  fs.writeFileSync(s.utmp, encodeUtmp(theirs));
  await r.logout(process.pid);
  assert.deepEqual(records(s.utmp).map((x) => [x.type, x.user, x.pid]), [[UT_TYPE.user, 'carol', process.pid + 1]]);
  assert.deepEqual(s.errors, []);
});
