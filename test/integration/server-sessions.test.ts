// What a logged-in client gets: exit statuses, separate stdout/stderr, binary-clean streams,
// signals, a PTY that follows window changes, the environment and the working directory.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectClient, daemonForLoginUser, runCommand, sessionRequest } from '../helpers/server-harness';

const d = daemonForLoginUser('tlsshd-sessions', { AcceptEnv: 'LANG FOO_* LD_*' });

test('exit codes 0, 1 and 42 come back as they are', async () => {
  for (const code of [0, 1, 42]) {
    const r = await runCommand(d.daemon.port, d.id, `exit ${code}`);
    assert.deepEqual(r.exit, { type: 'exit-status', code, signal: null, coreDumped: false });
    assert.equal(r.started?.user, d.me.name);
  }
});

test('death by a signal is reported by name', async () => {
  const r = await runCommand(d.daemon.port, d.id, 'kill -TERM $$');
  assert.equal(r.exit?.code, null);
  assert.equal(r.exit?.signal, 'TERM');
});

test('a signal from the client reaches the command', async () => {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ command: 'echo ready; exec sleep 60' }));
  await s.waitForStdout((o) => o.includes('ready'));
  s.send({ type: 'signal', name: 'INT' });
  const r = await s.result;
  assert.equal(r.exit?.signal, 'INT');
});

test('stdout and stderr stay separate without a pty', async () => {
  const r = await runCommand(d.daemon.port, d.id, 'echo out; echo err >&2; echo out2');
  assert.equal(r.stdout.toString(), 'out\nout2\n');
  assert.equal(r.stderr.toString(), 'err\n');
});

test('all 256 byte values pass both ways unchanged', async () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const input = Buffer.concat([all, all.reverse()]);
  const r = await runCommand(d.daemon.port, d.id, 'cat', {}, input);
  assert.equal(r.exit?.code, 0);
  assert.ok(r.stdout.equals(input), `got ${r.stdout.length} bytes`);
});

test('a larger stream than one window survives flow control', { timeout: 60_000 }, async () => {
  const r = await runCommand(d.daemon.port, d.id, 'head -c 5000000 /dev/zero');
  assert.equal(r.exit?.code, 0);
  assert.equal(r.stdout.length, 5_000_000);
});

test('window changes reach the pty', async () => {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ command: 'stty size; read x; stty size', pty: true, term: 'xterm', cols: 80, rows: 24 }));
  await s.waitForStdout((o) => o.includes('24 80'));
  s.send({ type: 'window-change', cols: 132, rows: 43 });
  s.write('\n');
  await s.waitForStdout((o) => o.includes('43 132'));
  const r = await s.result;
  assert.equal(r.exit?.code, 0);
  assert.equal(r.stderr.length, 0, 'a pty session sends everything on stdout');
});

test('a terminal size from the client is capped at 10000, at the start and on a change', async () => {
  // Programs size buffers by cols x rows: 65535 x 65535 from the network must not reach the PTY.
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ command: 'stty size; read x; stty size', pty: true, term: 'xterm', cols: 65535, rows: 65535 }));
  await s.waitForStdout((o) => o.includes('10000 10000'));
  s.send({ type: 'window-change', cols: 30000, rows: 200 });
  s.write('\n');
  await s.waitForStdout((o) => o.includes('200 10000'));
  assert.equal((await s.result).exit?.code, 0);
});

test('a pty session gets TERM and a controlling terminal', async () => {
  const r = await runCommand(d.daemon.port, d.id, 'echo "term=$TERM"; tty', { pty: true, term: 'vt100' });
  const out = r.stdout.toString();
  assert.match(out, /term=vt100/);
  assert.match(out, /\/dev\/pts\/\d+/);
});

test('the environment is built by the server plus what AcceptEnv allows', async () => {
  const r = await runCommand(d.daemon.port, d.id, 'env', {
    env: [['LANG', 'C.UTF-8'], ['FOO_BAR', 'yes'], ['LD_PRELOAD', '/nonexistent.so'], ['OTHER', 'no'], ['PATH', '/evil']],
  });
  const env = new Map(r.stdout.toString().trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(env.get('LANG'), 'C.UTF-8');
  assert.equal(env.get('FOO_BAR'), 'yes');
  assert.equal(env.has('LD_PRELOAD'), false, 'LD_* is never accepted');
  assert.equal(env.has('OTHER'), false);
  assert.notEqual(env.get('PATH'), '/evil');
  assert.equal(env.get('USER'), d.me.name);
  assert.equal(env.get('LOGNAME'), d.me.name);
  assert.equal(env.get('HOME'), d.me.home);
  assert.equal(env.get('MAIL'), `/var/mail/${d.me.name}`);
  assert.ok(env.get('SHELL'));
  assert.match(env.get('TLSSH_CONNECTION') ?? '', /^127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+$/);
  assert.equal(env.has('TERM'), false, 'no TERM without a pty');
  assert.equal(env.has('NODE_CHANNEL_FD'), false, "the daemon's own environment does not leak");
});

test('the session starts in the home directory', async () => {
  const r = await runCommand(d.daemon.port, d.id, 'pwd');
  assert.equal(r.stdout.toString().trim(), d.me.home);
});

test('the command sees no descriptors of the daemon (IPC, log pipe, sockets)', async () => {
  // fds 0-2 plus the one ls opens to list the directory.
  const r = await runCommand(d.daemon.port, d.id, 'ls /proc/self/fd');
  const fds = r.stdout.toString().trim().split(/\s+/).map(Number).sort((a, b) => a - b);
  assert.deepEqual(fds, [0, 1, 2, 3]);
});
