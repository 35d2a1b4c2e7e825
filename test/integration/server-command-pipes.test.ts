// A command without a terminal gets pipes for stdin, stdout and stderr, as under sshd, not the
// socketpairs Node's child_process makes (src/server/command-pipes.ts): through the real tlssh
// and tlsshd.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir } from '../helpers/ca';
import { connectClient, createTestUser, isRoot, loginUser, makeServerFixture, runCommand, sessionRequest, startTlsshd } from '../helpers/server-harness';
import { TLSSH, runTlssh, startFixture, type ClientFixture } from './client-fixture';

const KINDS = 'stat -L -c %F /dev/stdin /dev/stdout /dev/stderr';

let fx: ClientFixture;

before(async () => {
  fx = await startFixture();
});

after(async () => {
  await fx.stop();
});

test('stdin, stdout and stderr are pipes, as sshd gives them', async () => {
  const r = await runTlssh(['-F', fx.configFile, 'localhost', KINDS]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.toString().trim().split('\n'), ['fifo', 'fifo', 'fifo']);
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

test('a command may open its stdin by name, as under sshd, even after the client\'s end of input', async () => {
  // `sleep` first: the client's EOF has certainly arrived, and a reader that opened a FIFO by
  // name now would wait for a writer for ever. A pipe gives what is left, then end of file.
  const r = await runTlssh(['-F', fx.configFile, 'localhost', 'sleep 1; cat /dev/stdin; echo "status $?"'], { input: 'from stdin\n', killAfterMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'from stdin\nstatus 0\n');
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

test('a job left behind by a dropped client that reopens /dev/stdout fails at once, as under sshd', async () => {
  const mark = path.join(makeTempDir('tlssh-pipes-late'), 'mark');
  // The job has its own session (no hang-up reaches it) and writes once its client is gone: a
  // pipe whose reader has gone gives EPIPE, where a FIFO would block the open for ever. The job
  // itself says "started", from inside its new session: said by the shell, the client could be
  // killed before setsid ran, and the hang-up then took the job too (seen once on a loaded machine).
  const job = `setsid sh -c 'trap "" PIPE; echo started; sleep 2; echo late > /dev/stdout; echo "rc=$?" > ${mark}' & sleep 60`;
  const client = spawn(process.execPath, [TLSSH, '-F', fx.configFile, 'localhost', job], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    client.stdout.on('data', (b: Buffer) => { if (b.toString().includes('started')) resolve(); });
    client.once('close', () => reject(new Error('client ended before the job started')));
  });
  client.kill('SIGKILL');
  let text = '';
  // A bound against a hang, not a timing assertion: the job needs about 2 s.
  for (let i = 0; i < 200 && text === ''; i++) {
    await new Promise((r) => setTimeout(r, 100));
    text = fs.existsSync(mark) ? fs.readFileSync(mark, 'utf8') : '';
  }
  fs.rmSync(path.dirname(mark), { recursive: true, force: true });
  assert.match(text, /^rc=[1-9]/, 'the job never got past reopening its stdout');
});

test('without the pipe addon, commands get sockets and still work', async () => {
  const saved = process.env['TLSSH_PIPE_ADDON'];
  process.env['TLSSH_PIPE_ADDON'] = '/nonexistent/tlssh_pipe.node';
  let other: ClientFixture | undefined;
  try {
    other = await startFixture();
    await other.server.waitForLog(/commands get sockets, not pipes, .*\/nonexistent\/tlssh_pipe\.node \(not found\)/);
    const r = await runTlssh(['-F', other.configFile, 'localhost', `${KINDS}; echo oops >&2; exit 3`]);
    assert.equal(r.status, 3, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split('\n'), ['socket', 'socket', 'socket']);
    assert.match(r.stderr, /oops/);
  } finally {
    if (saved === undefined) delete process.env['TLSSH_PIPE_ADDON'];
    else process.env['TLSSH_PIPE_ADDON'] = saved;
    await other?.stop();
  }
});

test('a user who is not root can reopen stdin, stdout and stderr by name', { skip: !isRoot && 'needs root to create a user' }, async () => {
  const user = createTestUser('tlssh-pipe');
  const fixture = makeServerFixture('tlsshd-pipe-user');
  const daemon = await startTlsshd({ dir: fixture.dir, config: fixture.config });
  try {
    const r = await runCommand(daemon.port, fixture.client(user.name), 'cat /dev/stdin && echo to-stdout > /dev/stdout && echo to-stderr > /dev/stderr && stat -L -c %U /proc/$$/fd/1', {}, Buffer.from('from-stdin\n'));
    assert.equal(r.exit?.code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), `from-stdin\nto-stdout\n${user.name}\n`);
    assert.equal(r.stderr.toString(), 'to-stderr\n');
  } finally {
    await daemon.stop();
    user.remove();
    fs.rmSync(fixture.dir, { recursive: true, force: true });
  }
});

test('a signal after the command exited reaches nobody, while a job it left keeps the session open', async () => {
  const fixture = makeServerFixture('tlsshd-pipe-signal');
  const me = loginUser();
  const daemon = await startTlsshd({ dir: fixture.dir, config: { ...fixture.config, ...me.config } });
  try {
    // The job holds stdout, so the session stays open after the shell's exit; the shell's pid
    // may by then be another process's, which a signal for the session must not reach.
    const s = connectClient(daemon.port, fixture.client(me.name), sessionRequest({
      // The job says when the shell is reaped (kill -0 still finds a zombie), then lingers.
      command: "trap 'echo shell-got-term; exit 9' TERM; (trap 'echo job-got-term; exit 8' TERM; while kill -0 $$ 2>/dev/null; do sleep 0.05; done; echo shell-gone; sleep 2; echo job-done) & exit 4",
    }));
    s.socket.once('secureConnect', () => s.endStdin());
    await s.waitForStdout((o) => o.includes('shell-gone'));
    s.send({ type: 'signal', name: 'TERM' });
    const r = await s.result;
    assert.equal(r.exit?.code, 4);
    assert.equal(r.stdout.toString(), 'shell-gone\njob-done\n');
    await daemon.waitForLog(/ignoring signal TERM: the command has exited/);
  } finally {
    await daemon.stop();
    fs.rmSync(fixture.dir, { recursive: true, force: true });
  }
});
