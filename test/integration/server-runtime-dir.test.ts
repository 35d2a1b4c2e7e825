// tlsshd checks RuntimeDir at start-up whatever its key (a plain PEM key here): it must be a real
// directory of the daemon's user (root when run as root), writable by nobody else, under parents
// nobody else can swap. Otherwise: one line naming the directory and the problem, status 255.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { isRoot, loginUser, makeServerFixture, runCommand, startTlsshd, writeConfig, type ServerFixture } from '../helpers/server-harness';

const TLSSHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshd');
let fx: ServerFixture;

before(() => {
  fx = makeServerFixture('tlsshd-runtime-dir');
});
after(() => {
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

function startWith(runtimeDir: string): { status: number | null; stderr: string } {
  const conf = path.join(fx.dir, 'tlsshd.conf');
  writeConfig(conf, { ...fx.config, Listen: '127.0.0.1', Port: '0', RuntimeDir: runtimeDir });
  const r = spawnSync(process.execPath, [TLSSHD, '-f', '-c', conf], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

function refused(runtimeDir: string, problem: RegExp): void {
  const r = startWith(runtimeDir);
  assert.equal(r.status, 255, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0]?.includes(runtimeDir), `names the directory: ${r.stderr}`);
  assert.match(lines[0] ?? '', problem);
}

test('a group- or world-writable RuntimeDir stops the daemon, with a plain key too', () => {
  for (const mode of [0o777, 0o770, 0o1777, 0o702]) {
    const dir = path.join(fx.dir, `run-${mode.toString(8)}`);
    fs.mkdirSync(dir);
    fs.chmodSync(dir, mode);
    refused(dir, /group- or world-writable \(mode 0?\d+\)/);
  }
});

test('a RuntimeDir that is a symlink, or not a directory, stops the daemon', () => {
  const real = path.join(fx.dir, 'real-run');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(fx.dir, 'link-run');
  fs.symlinkSync(real, link);
  refused(link, /is a symbolic link/);
  const file = path.join(fx.dir, 'file-run');
  fs.writeFileSync(file, '');
  refused(file, /is not a directory/);
});

test('a RuntimeDir owned by another user, or under a parent others can write, stops the daemon', { skip: isRoot ? false : 'needs root to chown' }, () => {
  const theirs = path.join(fx.dir, 'theirs-run');
  fs.mkdirSync(theirs, { mode: 0o700 });
  fs.chownSync(theirs, 65534, 65534);
  refused(theirs, /owned by uid 65534, not root/);

  const open = path.join(fx.dir, 'open-parent');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  refused(path.join(open, 'run'), /parent directory .*open-parent is group- or world-writable/);
  assert.equal(fs.existsSync(path.join(open, 'run')), false, 'nothing was created under it');

  const theirParent = path.join(fx.dir, 'their-parent');
  fs.mkdirSync(theirParent, { mode: 0o755 });
  fs.chownSync(theirParent, 65534, 65534);
  refused(path.join(theirParent, 'run'), /parent directory .*their-parent is owned by uid 65534/);
});

test('a missing RuntimeDir is created 0700 and the daemon serves', async () => {
  const dir = path.join(fx.dir, 'fresh-run');
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...loginUser().config, RuntimeDir: dir } });
  try {
    const st = fs.lstatSync(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o700);
  } finally {
    await d.stop();
  }
});

test('an existing RuntimeDir others may read or enter (systemd\'s 0755) is made 0700 before anything goes in', async () => {
  // Session records, certificate serials and socket names are nobody else's to list.
  const dir = path.join(fx.dir, 'open-run');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...loginUser().config, RuntimeDir: dir } });
  try {
    assert.equal(fs.lstatSync(dir).mode & 0o777, 0o700);
  } finally {
    await d.stop();
  }
});

test('a second tlsshd with the RuntimeDir of a running one stops, and the first carries on', async () => {
  const dir = path.join(fx.dir, 'shared-run');
  const me = loginUser();
  const first = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, RuntimeDir: dir } });
  try {
    const control = path.join(dir, 'control.sock');
    const before = fs.lstatSync(control).ino;
    refused(dir, /is in use by another running tlsshd \(its control socket answers\)/);
    // Its control socket is the same one, and it still logs people in.
    assert.equal(fs.lstatSync(control).ino, before);
    const r = await runCommand(first.port, fx.client(me.name), 'echo still-here');
    assert.equal(r.stdout.toString(), 'still-here\n');
  } finally {
    await first.stop();
  }
});

test('a control socket nobody listens on (a killed tlsshd) is replaced', async () => {
  const dir = path.join(fx.dir, 'stale-run');
  fs.mkdirSync(dir, { mode: 0o700 });
  // A socket left bound and never closed, as by a listener killed with SIGKILL.
  spawnSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', path.join(dir, 'control.sock')]);
  assert.ok(fs.lstatSync(path.join(dir, 'control.sock')).isSocket());
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...loginUser().config, RuntimeDir: dir } });
  await d.stop();
});
