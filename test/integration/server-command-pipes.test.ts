// A command without a terminal writes into pipes, as under sshd, not the socketpairs Node's
// child_process makes (src/server/command-fifos.ts): through the real tlssh and tlsshd.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir } from '../helpers/ca';
import { createTestUser, isRoot, makeServerFixture, runCommand, startTlsshd } from '../helpers/server-harness';
import { runTlssh, startFixture, type ClientFixture } from './client-fixture';

const KINDS = 'stat -L -c %F /dev/stdin /dev/stdout /dev/stderr';

let fx: ClientFixture;
let runDir: string;
let stale: string;

before(async () => {
  // A RuntimeDir made beforehand, holding what an earlier listener could have left behind.
  runDir = makeTempDir('tlsshd-fifo-run');
  fs.chmodSync(runDir, 0o700);
  fs.mkdirSync(path.join(runDir, 'fifos'), { mode: 0o700 });
  stale = path.join(runDir, 'fifos', '0123456789abcdef');
  execFileSync('mkfifo', ['-m', '600', stale]);
  fx = await startFixture({ serverConfig: { RuntimeDir: runDir } });
});

after(async () => {
  await fx.stop();
  fs.rmSync(runDir, { recursive: true, force: true });
});

function fifosLeft(): string[] {
  return fs.readdirSync(path.join(runDir, 'fifos'));
}

test('stdout and stderr are pipes, as sshd gives them; stdin stays a socket', async () => {
  const r = await runTlssh(['-F', fx.configFile, 'localhost', KINDS]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.toString().trim().split('\n'), ['socket', 'fifo', 'fifo']);
});

test('reading /dev/stdin fails at once rather than waiting for ever', async () => {
  // A FIFO would make `cat` wait for a writer that is gone; a socket refuses the open (ENXIO).
  const r = await runTlssh(['-F', fx.configFile, 'localhost', 'cat /dev/stdin; echo "status $?"'], { input: 'x\n', killAfterMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /status 1/);
});

test('what goes through the pipes arrives whole and apart, with the exit status', async () => {
  // Text, so that stderr (collected as a string) can be compared byte for byte.
  const input = randomBytes(2 * 1024 * 1024 + 17).toString('base64');
  const r = await runTlssh(['-F', fx.configFile, 'localhost', 'tee /dev/stderr | sha256sum; exit 5'], { input });
  assert.equal(r.status, 5, r.stderr.slice(-500));
  assert.equal(r.stdout.toString().split(' ')[0], createHash('sha256').update(input).digest('hex'));
  assert.equal(r.stderr.length, input.length);
  assert.ok(r.stderr === input, 'stderr differs from what was sent');
});

test('what a command writes just before it exits is not lost', async () => {
  // The last 64 KiB are still in the pipe when the command's exit is seen: the session must
  // read them before it sends the exit status.
  for (let i = 0; i < 5; i++) {
    const r = await runTlssh(['-F', fx.configFile, 'localhost', 'head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2']);
    assert.equal(r.status, 0, r.stderr.slice(-200));
    assert.equal(r.stdout.length, 1000000);
    assert.equal(r.stderr.length, 300000);
  }
});

test('a session\'s pipes have no name left: nobody can open them', async () => {
  // The command looks for its own stdout's old name while it runs ($$: the shell, whose fd 1 it is).
  const r = await runTlssh(['-F', fx.configFile, 'localhost', 'p=$(readlink /proc/$$/fd/1); p=${p% (deleted)}; printf "%s\\n" "$p"; test -e "$p" && echo exists || echo gone']);
  assert.equal(r.status, 0, r.stderr);
  const [name, state] = r.stdout.toString().trim().split('\n');
  assert.equal(path.dirname(name ?? ''), path.join(runDir, 'fifos'));
  assert.equal(state, 'gone');
});

test('the listener removed what an earlier one left, and keeps only a bounded stock', async () => {
  assert.equal(fs.existsSync(stale), false);
  for (let i = 0; i < 30; i++) {
    const r = await runTlssh(['-F', fx.configFile, 'localhost', 'true']);
    assert.equal(r.status, 0, r.stderr);
  }
  // 30 logins used 60 FIFOs; what is left is the stock (at most two batches' worth).
  const left = fifosLeft();
  assert.ok(left.length <= 2 * 2 * 16, `${left.length} FIFOs left`);
  for (const name of left) assert.ok(fs.lstatSync(path.join(runDir, 'fifos', name)).isFIFO(), name);
});

test('a PTY session gives its FIFOs up too', async () => {
  const before = new Set(fifosLeft());
  const r = await runTlssh(['-F', fx.configFile, '-tt', 'localhost', 'true']);
  assert.equal(r.status, 0, r.stderr);
  // Whatever the stock held before that is not there now was taken and unlinked by the worker.
  const now = new Set(fifosLeft());
  assert.ok([...before].some((n) => !now.has(n)));
});

test('without mkfifo, commands get socketpairs and still work', async () => {
  const fake = makeTempDir('tlsshd-no-mkfifo');
  fs.writeFileSync(path.join(fake, 'mkfifo'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const savedPath = process.env['PATH'];
  process.env['PATH'] = `${fake}:${savedPath ?? ''}`;
  let other: ClientFixture | undefined;
  try {
    other = await startFixture();
    process.env['PATH'] = savedPath;
    await other.server.waitForLog(/commands get socketpairs, not pipes: mkfifo exit 1/);
    const r = await runTlssh(['-F', other.configFile, 'localhost', `${KINDS}; echo oops >&2; exit 3`]);
    assert.equal(r.status, 3, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split('\n'), ['socket', 'socket', 'socket']);
    assert.match(r.stderr, /oops/);
  } finally {
    process.env['PATH'] = savedPath;
    await other?.stop();
    fs.rmSync(fake, { recursive: true, force: true });
  }
});

test('a user who is not root can reopen stdout and stderr by name, as under sshd', { skip: !isRoot && 'needs root to create a user' }, async () => {
  const user = createTestUser('tlssh-fifo');
  const fixture = makeServerFixture('tlsshd-fifo-user');
  const daemon = await startTlsshd({ dir: fixture.dir, config: fixture.config });
  try {
    const r = await runCommand(daemon.port, fixture.client(user.name), 'echo to-stdout > /dev/stdout && echo to-stderr > /dev/stderr && stat -L -c %U /dev/stdout');
    assert.equal(r.exit?.code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), `to-stdout\n${user.name}\n`);
    assert.equal(r.stderr.toString(), 'to-stderr\n');
  } finally {
    await daemon.stop();
    user.remove();
    fs.rmSync(fixture.dir, { recursive: true, force: true });
  }
});
