// What an administrator sees of a running tlsshd: process titles as sshd's, every process named
// tlsshd for `pgrep -x`, the client named tlssh; and log lines that carry the connection id, the
// source, the user, the certificate's serial and fingerprint once, and a session end line with
// the exit status and duration. All read from the real processes and the real log (stderr, -f).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { MUX_ALPN, openMuxConnection } from '../../src/client/mux-connection';
import { startFixture, TLSSH, type ClientFixture } from './client-fixture';
import { captureClientHello } from '../helpers/client-hello';
import {
  connectClient, createTestUser, isAlive, isRoot, loginUser, makeServerFixture, runCommand, sessionRequest, startTlsshd,
  type ClientIdentity, type ServerFixture, type TlsshdHandle,
} from '../helpers/server-harness';

const me = loginUser();
let fx: ServerFixture;
let id: ClientIdentity & { fingerprint: string; serial: string };
let d: TlsshdHandle;

before(async () => {
  fx = makeServerFixture('tlsshd-titles');
  id = fx.client(me.name);
  d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
});
after(async () => {
  await d.stop();
});

function comm(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
}

function title(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
}

/** Polls (bounded) until one of `pids()` has a title matching `re`; the listener's workers by default. */
async function workerTitled(re: RegExp, pids: () => number[] = () => d.workerPids()): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const pid = pids().find((p) => {
      try {
        return re.test(title(p));
      } catch {
        return false;
      }
    });
    if (pid !== undefined) return pid;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no worker titled ${re}; titles: ${d.workerPids().map((p) => title(p)).join(' | ')}`);
}

function pgrepTlsshd(): number[] {
  try {
    return execFileSync('pgrep', ['-x', 'tlsshd'], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    return [];
  }
}

test('the listener and a waiting worker: titles as sshd, comm tlsshd', async () => {
  // The title follows the "listening" log line by a moment.
  await workerTitled(new RegExp(`^tlsshd: listening on 127\\.0\\.0\\.1:${d.port}$`), () => [d.pid]);
  assert.equal(comm(d.pid), 'tlsshd');
  const waiting = await workerTitled(/^tlsshd: \[waiting\]$/);
  assert.equal(comm(waiting), 'tlsshd');
  const found = pgrepTlsshd();
  assert.ok(found.includes(d.pid) && found.includes(waiting), `pgrep -x tlsshd: ${found.join(' ')}`);
});

test('a connection before authentication: tlsshd: [accepted] ADDR', async () => {
  // A whole ClientHello, then silence: the listener hands it to a worker, which waits in the handshake.
  const hello = await captureClientHello();
  const sock = net.connect(d.port, '127.0.0.1', () => sock.write(hello));
  sock.on('error', () => undefined);
  try {
    const pid = await workerTitled(/^tlsshd: \[accepted\] 127\.0\.0\.1$/);
    assert.equal(comm(pid), 'tlsshd');
    assert.ok(pgrepTlsshd().includes(pid));
  } finally {
    sock.destroy();
  }
});

test('sessions: tlsshd: USER [cmd] and tlsshd: USER@pts/N, comm tlsshd after the drop', async () => {
  const cmd = connectClient(d.port, id, sessionRequest({ command: 'echo "worker=$PPID"; exec cat' }));
  const pty = connectClient(d.port, id, sessionRequest({ command: 'echo "worker=$PPID tty=$(tty)"; exec cat', pty: true, term: 'dumb' }));
  try {
    const cmdWorker = Number(/worker=(\d+)/.exec(await cmd.waitForStdout((o) => /worker=\d+\n/.test(o)))?.[1]);
    const out = await pty.waitForStdout((o) => /tty=\S+/.test(o));
    const ptyWorker = Number(/worker=(\d+)/.exec(out)?.[1]);
    const line = /tty=\/dev\/(\S+)/.exec(out)?.[1];
    assert.equal(title(cmdWorker), `tlsshd: ${me.name} [cmd]`);
    assert.equal(title(ptyWorker), `tlsshd: ${me.name}@${line}`);
    for (const pid of [cmdWorker, ptyWorker]) assert.equal(comm(pid), 'tlsshd', `comm of ${pid}`);
    const found = pgrepTlsshd();
    assert.ok([d.pid, cmdWorker, ptyWorker].every((p) => found.includes(p)), `pgrep -x tlsshd: ${found.join(' ')}`);
  } finally {
    cmd.close();
    pty.close();
  }
});

test('a shared connection: tlsshd: USER [shared] with no session, USER@pts/N while a terminal session runs', async () => {
  const socket = tls.connect({
    host: '127.0.0.1', port: d.port,
    ca: fs.readFileSync(id.caFile), cert: fs.readFileSync(id.certFile), key: fs.readFileSync(id.keyFile),
    minVersion: 'TLSv1.3', ALPNProtocols: [...MUX_ALPN], checkServerIdentity: () => undefined,
  });
  socket.on('error', () => undefined);
  try {
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    const shared = new RegExp(`^tlsshd: ${me.name} \\[shared\\]$`);
    const pid = await workerTitled(shared);
    assert.equal(comm(pid), 'tlsshd');
    const conn = openMuxConnection(socket, { keepalive: 0 });
    let out = '';
    const s = await conn.openSession(sessionRequest({ command: 'tty; exec cat', pty: true, term: 'dumb' }));
    s.on('stdout', (b: Buffer) => (out += b.toString('latin1')));
    await workerTitled(new RegExp(`^tlsshd: ${me.name}@pts/\\d+$`), () => [pid]);
    s.stdin.write('\x04');
    await s.done;
    assert.match(out, /\/dev\/pts\/\d+/);
    // The session's terminal has gone: the title says so.
    await workerTitled(shared, () => [pid]);
  } finally {
    socket.destroy();
  }
});

test('a session of an ordinary user keeps comm tlsshd after the worker dropped root', { skip: isRoot ? false : 'needs root to create a user' }, async () => {
  // After setuid the process is not dumpable and /proc/self/comm belongs to root: only the
  // descriptor opened while root still lets the worker rename itself.
  const user = createTestUser();
  try {
    const s = connectClient(d.port, fx.client(user.name), sessionRequest({ command: 'echo "worker=$PPID tty=$(tty)"; exec cat', pty: true, term: 'dumb' }));
    try {
      const out = await s.waitForStdout((o) => /tty=\S+/.test(o));
      const worker = Number(/worker=(\d+)/.exec(out)?.[1]);
      const line = /tty=\/dev\/(\S+)/.exec(out)?.[1];
      assert.equal(Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${worker}/status`, 'utf8'))?.[1]), user.uid, 'the worker is the user');
      assert.equal(title(worker), `tlsshd: ${user.name}@${line}`);
      assert.equal(comm(worker), 'tlsshd');
      assert.ok(pgrepTlsshd().includes(worker));
    } finally {
      s.close();
    }
  } finally {
    user.remove();
  }
});

test('log lines: id, source and user on each; serial and fingerprint once; end line with status and duration', async () => {
  const r = await runCommand(d.port, id, 'exit 3');
  assert.equal(r.exit?.code, 3);
  const end = await d.waitForLog(/session closed: exit status 3, duration [\d.]+s$/);
  const conn = /conn (\d+) /.exec(end)?.[1];
  assert.ok(conn, end);
  const lines = d.logs().split('\n').filter((l) => l.includes(`conn ${conn} `));
  assert.ok(lines.length >= 2, lines.join('\n'));
  for (const l of lines) assert.match(l, new RegExp(`conn ${conn} (user ${me.name} )?from 127\\.0\\.0\\.1 port \\d+: `), l);
  assert.match(end, new RegExp(`conn ${conn} user ${me.name} from 127\\.0\\.0\\.1 port \\d+: session closed`));
  const accepted = lines.filter((l) => l.includes(id.fingerprint));
  assert.equal(accepted.length, 1, `the fingerprint once:\n${lines.join('\n')}`);
  assert.match(accepted[0] ?? '', new RegExp(`user ${me.name} .*accepted certificate .*serial ${id.serial} fingerprint ${id.fingerprint}`));
});

test('a client that goes away during a session (~., a closed lid) leaves a line: connection closed by the client', async () => {
  const s = connectClient(d.port, id, sessionRequest({ command: 'echo "worker=$PPID"; exec cat', pty: true, term: 'dumb' }));
  const out = await s.waitForStdout((o) => /worker=\d+/.test(o));
  const worker = Number(/worker=(\d+)/.exec(out)?.[1]);
  // A clean close, as tlssh's ~. does: close_notify, no error on either side.
  s.socket.end();
  const line = await d.waitForLog(/connection closed by the client: its session hung up$/);
  const conn = /conn (\d+) /.exec(line)?.[1];
  assert.match(line, new RegExp(`conn ${conn} user ${me.name} from 127\\.0\\.0\\.1 port \\d+: `));
  assert.ok(d.logs().split('\n').some((l) => l.includes(`conn ${conn} `) && l.includes('accepted certificate')), 'the same connection');
  // The worker went with it (and the shell with the worker's terminal).
  for (let i = 0; i < 100 && isAlive(worker); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(isAlive(worker), false, 'the worker ended');
});

test('the client is named tlssh in comm', async (t) => {
  let cf: ClientFixture | undefined;
  try {
    cf = await startFixture();
  } catch (e) {
    t.skip(`no client fixture: ${String(e)}`);
    return;
  }
  const marker = path.join(cf.dir, 'started');
  const child = spawn(process.execPath, [TLSSH, '-c', cf.configFile, 'localhost', `touch ${marker}; exec sleep 60`], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 300 && !fs.existsSync(marker); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(fs.existsSync(marker), 'the session started');
    assert.equal(comm(child.pid!), 'tlssh');
  } finally {
    child.kill('SIGKILL');
    await cf.stop();
  }
});
