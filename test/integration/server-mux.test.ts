// Several sessions over one connection (tlssh/2+mux, PROTOCOL.md section 12) through a real
// tlsshd and the client API a connection master uses: concurrent sessions with their own exit
// statuses, MaxSessions refusing one session only, peers without the extension unaffected, and
// bad session ids ending only their own connection.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tls from 'node:tls';
import { Writable } from 'node:stream';
import { openMuxConnection, MUX_ALPN, type MuxConnection, type MuxSession } from '../../src/client/mux-connection';
import { isTlsshError } from '../../src/errors';
import { ALPN_TLSSH2 } from '../../src/protocol/messages';
import { MuxDecoder, encodeMuxFrame } from '../../src/protocol/mux-codec';
import { ALPN_TLSSH2_MUX, MUX_LIMITS, type MuxFrame } from '../../src/protocol/mux-messages';
import type { SessionView } from '../../src/server/control-protocol';
import { daemonForLoginUser, isRoot, runCommand, sessionRequest, startTlsshd, type ClientIdentity } from '../helpers/server-harness';
import { UTMP_SIZE, UT_TYPE, decodeUtmp } from '../../src/server/utmp-record';
import { pollUntil } from '../helpers/poll';

const d = daemonForLoginUser('tlsshd-mux');
const TLSSHCTL = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshctl');

function connectTls(port: number, id: ClientIdentity, alpn: readonly string[]): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1', port,
      ca: fs.readFileSync(id.caFile), cert: fs.readFileSync(id.certFile), key: fs.readFileSync(id.keyFile),
      minVersion: 'TLSv1.3', ALPNProtocols: [...alpn], checkServerIdentity: () => undefined,
    });
    socket.setNoDelay(true);
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function openMux(port: number, id: ClientIdentity): Promise<MuxConnection> {
  const socket = await connectTls(port, id, MUX_ALPN);
  return openMuxConnection(socket, { keepalive: 0 });
}

/** Collects a session's output; `until` resolves once it includes `text`. */
function collector(): { sink: Writable; text(): string; until(text: string): Promise<void> } {
  let got = '';
  const waiters: Array<() => void> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got += chunk.toString('latin1');
      for (const w of waiters.splice(0)) w();
      cb();
    },
  });
  const until = async (text: string): Promise<void> => {
    while (!got.includes(text)) await new Promise<void>((r) => waiters.push(r));
  };
  return { sink, text: () => got, until };
}

test('three sessions at once over one connection: a pty, a command with stdin, a command killed by a signal', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  assert.equal(conn.multiplexing, true);
  const ptyOut = collector();
  const catOut = collector();
  const sigOut = collector();
  const [pty, cat, sig] = await Promise.all([
    conn.openSession(sessionRequest({ command: 'echo ppid=$PPID; stty size; read x; echo got-$x; exit 3', pty: true, term: 'xterm', cols: 80, rows: 24 }), { stdout: ptyOut.sink }),
    conn.openSession(sessionRequest({ command: 'echo ppid=$PPID >&2; tr a-z A-Z; exit 5' }), { stdout: catOut.sink, stderr: catOut.sink }),
    conn.openSession(sessionRequest({ command: 'echo ppid=$PPID; echo ready; exec sleep 60' }), { stdout: sigOut.sink }),
  ]);
  assert.deepEqual([pty.id, cat.id, sig.id].length, new Set([pty.id, cat.id, sig.id]).size);
  assert.equal(conn.sessions, 3);
  await Promise.all([ptyOut.until('24 80'), catOut.until('ppid='), sigOut.until('ready')]);
  // One worker serves all three: each process is its child.
  const ppids = [ptyOut, catOut, sigOut].map((c) => /ppid=(\d+)/.exec(c.text())?.[1]);
  assert.ok(ppids[0] !== undefined && ppids.every((p) => p === ppids[0]), `parents ${ppids.join(' ')}`);

  // Per-session window change, stdin and eof, signal.
  pty.windowChange(100, 30);
  pty.stdin.write('hello\n');
  cat.stdin.end('some input\n');
  sig.signal('TERM');
  const [ptyEnd, catEnd, sigEnd] = await Promise.all([pty.done, cat.done, sig.done]);
  assert.deepEqual(ptyEnd, { kind: 'exit', status: { type: 'exit-status', code: 3, signal: null, coreDumped: false } });
  assert.deepEqual(catEnd, { kind: 'exit', status: { type: 'exit-status', code: 5, signal: null, coreDumped: false } });
  assert.deepEqual(sigEnd, { kind: 'exit', status: { type: 'exit-status', code: null, signal: 'TERM', coreDumped: false } });
  assert.match(ptyOut.text(), /got-hello/);
  assert.match(catOut.text(), /SOME INPUT\n/);

  // The connection outlives its sessions: a fourth one runs on it afterwards.
  const r = collector();
  const again = await conn.openSession(sessionRequest({ command: 'echo again' }), { stdout: r.sink });
  again.stdin.end();
  assert.deepEqual(await again.done, { kind: 'exit', status: { type: 'exit-status', code: 0, signal: null, coreDumped: false } });
  assert.equal(r.text(), 'again\n');
  assert.equal(conn.isClosed, false);
  conn.close();
});

test('windows are per session: a session whose output is not read does not stall the others', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  // A reader that takes nothing until told to: the server may send at most one window.
  let release: (() => void) | undefined;
  let received = 0;
  const held: Array<() => void> = [];
  const stalled = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      if (release) cb();
      else held.push(cb);
    },
  });
  const big = await conn.openSession(sessionRequest({ command: 'head -c 20000000 /dev/zero' }), { stdout: stalled });
  big.stdin.end();
  while (held.length === 0) await new Promise((r) => setTimeout(r, 20));
  const out = collector();
  const small = await conn.openSession(sessionRequest({ command: 'echo through' }), { stdout: out.sink });
  small.stdin.end();
  assert.deepEqual(await small.done, { kind: 'exit', status: { type: 'exit-status', code: 0, signal: null, coreDumped: false } });
  assert.equal(out.text(), 'through\n');
  assert.ok(received < 20_000_000, 'the unread session is held back by its window');
  release = () => undefined;
  for (const cb of held.splice(0)) cb();
  const end = await big.done;
  assert.equal(end.kind, 'exit');
  assert.equal(received, 20_000_000);
  conn.close();
});

/** Live USER_PROCESS entries of /var/run/utmp, as line -> pid. */
function utmpUsers(): Map<string, number> {
  const out = new Map<string, number>();
  const data = fs.existsSync('/var/run/utmp') ? fs.readFileSync('/var/run/utmp') : Buffer.alloc(0);
  for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) {
    const r = decodeUtmp(data.subarray(off, off + UTMP_SIZE));
    if (r.type === UT_TYPE.user) out.set(r.line, r.pid);
  }
  return out;
}

/** tlsshctl against the test daemon, without blocking the test's own sessions meanwhile. */
function tlsshctl(...args: string[]): Promise<{ stdout: string }> {
  return promisify(execFile)(process.execPath, [TLSSHCTL, '-c', d.daemon.configFile, ...args], { encoding: 'utf8' });
}

// Bounded below each test's own 60 s timeout, so a failure says so rather than timing out.
const until = <T>(what: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> => pollUntil('a condition of this test', what, { limitMs: 50_000 });

test('each pty session of a shared connection has its own utmp record, closed when it ends', { timeout: 60_000, skip: isRoot ? false : 'needs root: writes utmp' }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  const outs = [collector(), collector()];
  const sessions = await Promise.all(outs.map((o) => conn.openSession(sessionRequest({ command: 'tty; read x', pty: true, term: 'xterm' }), { stdout: o.sink })));
  const lines = await Promise.all(outs.map(async (o) => {
    await o.until('\n');
    return /\/dev\/(pts\/\d+)/.exec(o.text())?.[1] ?? '';
  }));
  assert.notEqual(lines[0], lines[1]);
  const pids = await until(() => {
    const u = utmpUsers();
    return lines.every((l) => u.has(l)) && lines.map((l) => u.get(l));
  });
  assert.equal(pids[0], pids[1], 'both records name the one worker');
  sessions[0]!.stdin.write('\n');
  await sessions[0]!.done;
  await until(() => !utmpUsers().has(lines[0]!));
  assert.ok(utmpUsers().has(lines[1]!), 'the other session keeps its record');
  sessions[1]!.stdin.write('\n');
  await sessions[1]!.done;
  await until(() => !utmpUsers().has(lines[1]!));
  conn.close();
});

test('tlsshctl sessions lists each session of a shared connection', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  const a = collector();
  const b = collector();
  const one = await conn.openSession(sessionRequest({ command: 'echo a; read x' }), { stdout: a.sink });
  const two = await conn.openSession(sessionRequest({ command: 'echo b; read x', pty: true, term: 'xterm' }), { stdout: b.sink });
  await Promise.all([a.until('a'), b.until('b')]);
  const list = async (): Promise<SessionView[]> => {
    const { stdout: out } = await tlsshctl('sessions', '--json');
    return (JSON.parse(out) as { sessions: SessionView[] }).sessions;
  };
  const rows = await until(async () => {
    const mine = (await list()).filter((v) => v.session !== undefined && v.command?.includes('read x'));
    return mine.length === 2 && mine.some((v) => v.tty) ? mine : false;
  });
  assert.equal(rows[0]?.id, rows[1]?.id, 'one connection');
  assert.deepEqual(rows.map((v) => [v.session, v.kind, v.command, v.tty !== undefined]), [[one.id, 'command', 'echo a; read x', false], [two.id, 'command', 'echo b; read x', true]]);
  one.stdin.end('\n');
  await one.done;
  await until(async () => (await list()).filter((v) => v.id === rows[0]?.id).length === 1);
  two.stdin.write('\n');
  await two.done;
  conn.close();
});

test('tlsshctl kill ends every session of a shared connection with TLSSH_ERR_SESSION_KILLED', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  const outs = [collector(), collector()];
  const sessions = await Promise.all(outs.map((o) => conn.openSession(sessionRequest({ command: 'echo up; exec sleep 600' }), { stdout: o.sink })));
  await Promise.all(outs.map((o) => o.until('up')));
  const conns = await until(async () => {
    const { stdout: out } = await tlsshctl('sessions', '--json');
    const ids = (JSON.parse(out) as { sessions: SessionView[] }).sessions.filter((v) => v.command === 'echo up; exec sleep 600').map((v) => v.id);
    return ids.length === 2 ? ids : false;
  });
  await tlsshctl('kill', String(conns[0]));
  const ends = await Promise.all(sessions.map((s) => s.done));
  assert.deepEqual(ends.map((e) => (e.kind === 'failed' ? e.error.code : e.kind)), ['TLSSH_ERR_SESSION_KILLED', 'TLSSH_ERR_SESSION_KILLED']);
  await new Promise<void>((r) => (conn.isClosed ? r() : conn.once('close', () => r())));
});

test('abandoning one session hangs up its process and leaves the others running', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  const a = collector();
  const b = collector();
  const gone = await conn.openSession(sessionRequest({ command: 'echo up $$; exec sleep 600' }), { stdout: a.sink });
  const stays = await conn.openSession(sessionRequest({ command: 'read x; echo still-$x' }), { stdout: b.sink });
  await a.until('\n');
  const pid = Number(/up (\d+)/.exec(a.text())?.[1]);
  assert.ok(fs.existsSync(`/proc/${pid}`));
  gone.close();
  const end = await gone.done;
  assert.equal(end.kind, 'failed');
  // SIGHUP ends it, as a lost connection ends a direct session.
  while (fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'latin1'))) await new Promise((r) => setTimeout(r, 50));
  stays.stdin.end('here\n');
  assert.deepEqual(await stays.done, { kind: 'exit', status: { type: 'exit-status', code: 0, signal: null, coreDumped: false } });
  assert.equal(b.text(), 'still-here\n');
  conn.close();
});

test('a session refused for itself (unknown subsystem, another user) leaves the connection and its sessions', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  const out = collector();
  const running = await conn.openSession(sessionRequest({ command: 'read x; echo ok-$x' }), { stdout: out.sink });
  await assert.rejects(conn.openSession(sessionRequest({ command: 'no-such-subsystem', subsystem: true })), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_UNKNOWN_SUBSYSTEM');
  await assert.rejects(conn.openSession(sessionRequest({ user: 'nobody', command: 'true' })), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_USER_MISMATCH');
  // A request the codec refuses never leaves, and costs the connection nothing.
  await assert.rejects(conn.openSession(sessionRequest({ term: 'x y', pty: true })), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_MALFORMED');
  running.stdin.end('yes\n');
  assert.equal((await running.done).kind, 'exit');
  assert.equal(out.text(), 'ok-yes\n');
  conn.close();
});

test('a logged-in peer asking for refused sessions in a loop loses its connection at the tenth, with one line saying so', { timeout: 60_000 }, async () => {
  const conn = await openMux(d.daemon.port, d.id);
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  for (let i = 1; i <= 9; i++) {
    await assert.rejects(conn.openSession(sessionRequest({ command: `no-such-${i}`, subsystem: true })), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_UNKNOWN_SUBSYSTEM');
  }
  assert.equal(conn.isClosed, false, 'nine refusals leave the connection');
  const ok = collector();
  assert.equal((await (await conn.openSession(sessionRequest({ command: 'echo still' }), { stdout: ok.sink })).done).kind, 'exit');
  assert.equal(ok.text(), 'still\n');
  await assert.rejects(conn.openSession(sessionRequest({ user: 'nobody', command: 'true' })));
  await closed;
  const line = await d.daemon.waitForLog(/ending the connection of .*: 10 session requests refused/);
  assert.ok(line.length > 0);
});

test('MaxSessions refuses the session beyond it, not the connection', { timeout: 60_000 }, async () => {
  const dir = `${d.fx.dir}/max-sessions`;
  fs.mkdirSync(dir, { mode: 0o755 });
  const daemon = await startTlsshd({ dir, config: { ...d.fx.config, ...d.me.config, MaxSessions: '2' } });
  try {
    const conn = await openMux(daemon.port, d.id);
    const one = await conn.openSession(sessionRequest({ command: 'read x; exit 1' }));
    const two = await conn.openSession(sessionRequest({ command: 'read x; exit 2' }));
    await assert.rejects(conn.openSession(sessionRequest({ command: 'true' })), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_MAX_SESSIONS');
    assert.equal(conn.isClosed, false);
    one.stdin.end('\n');
    const oneEnd = await one.done;
    assert.equal(oneEnd.kind === 'exit' ? oneEnd.status.code : oneEnd.error.code, 1);
    // A slot is free again once a session has ended.
    const three = await conn.openSession(sessionRequest({ command: 'exit 7' }));
    three.stdin.end();
    const ends = await Promise.all([three.done, (two.stdin.end('\n'), two.done)]);
    assert.deepEqual(ends.map((e) => (e.kind === 'exit' ? e.status.code : e.error.code)), [7, 2]);
    conn.close();
  } finally {
    await daemon.stop();
  }
});

test('a client without the extension still gets plain tlssh/2', { timeout: 60_000 }, async () => {
  const r = await runCommand(d.daemon.port, d.id, 'echo plain; exit 4');
  assert.equal(r.exit?.code, 4);
  assert.equal(r.stdout.toString(), 'plain\n');
  const socket = await connectTls(d.daemon.port, d.id, [ALPN_TLSSH2]);
  assert.equal(socket.alpnProtocol, ALPN_TLSSH2);
  // The client API over such a connection: one session, and it says it does not multiplex.
  const conn = openMuxConnection(socket, { keepalive: 0 });
  assert.equal(conn.multiplexing, false);
  const out = collector();
  const s = await conn.openSession(sessionRequest({ command: 'echo one' }), { stdout: out.sink });
  await assert.rejects(conn.openSession(sessionRequest({ command: 'true' })), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_MAX_SESSIONS');
  s.stdin.end();
  assert.equal((await s.done).kind, 'exit');
  assert.equal(out.text(), 'one\n');
});

/** A raw tlssh/2+mux peer, for what the client API never sends. */
async function rawMux(port: number, id: ClientIdentity): Promise<{ send(f: MuxFrame | Buffer): void; frames: MuxFrame[]; closed: Promise<void>; next(pred: (f: MuxFrame) => boolean): Promise<MuxFrame> }> {
  const socket = await connectTls(port, id, [ALPN_TLSSH2_MUX]);
  assert.equal(socket.alpnProtocol, ALPN_TLSSH2_MUX);
  const decoder = new MuxDecoder();
  const frames: MuxFrame[] = [];
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    frames.push(...decoder.push(chunk));
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => {
    for (const w of waiters.splice(0)) w();
    r();
  }));
  return {
    frames,
    closed,
    send: (f) => socket.write(Buffer.isBuffer(f) ? f : encodeMuxFrame(f)),
    next: async (pred) => {
      for (;;) {
        const f = frames.find(pred);
        if (f) return f;
        if (socket.destroyed) throw new Error(`connection closed; frames: ${JSON.stringify(frames.map((x) => x.message.type))}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

test('a message for a session id that is not open ends that connection only, with TLSSH_ERR_SESSION_ID', { timeout: 60_000 }, async () => {
  // Another connection with a session running, which must not notice.
  const bystander = await openMux(d.daemon.port, d.id);
  const out = collector();
  const running = await bystander.openSession(sessionRequest({ command: 'read x; echo fine-$x' }), { stdout: out.sink });

  const bad = await rawMux(d.daemon.port, d.id);
  bad.send({ session: 1, message: sessionRequest({ command: 'sleep 60' }) });
  await bad.next((f) => f.message.type === 'session-started');
  bad.send({ session: 77, message: { type: 'data', stream: 0, data: Buffer.from('x') } });
  const err = await bad.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err.message.type === 'error' && err.message.code, 'TLSSH_ERR_SESSION_ID');
  await bad.closed;

  // A second request for an id in use is the same violation.
  const twice = await rawMux(d.daemon.port, d.id);
  twice.send({ session: 5, message: sessionRequest({ command: 'sleep 60' }) });
  twice.send({ session: 5, message: sessionRequest({ command: 'sleep 60' }) });
  const err2 = await twice.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err2.message.type === 'error' && err2.message.code, 'TLSSH_ERR_SESSION_ID');
  await twice.closed;

  // Session id 0 is malformed.
  const zero = await rawMux(d.daemon.port, d.id);
  zero.send(Buffer.from('0000000503' + '00000000', 'hex'));
  const err3 = await zero.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err3.message.type === 'error' && err3.message.code, 'TLSSH_ERR_FRAME_MALFORMED');
  await zero.closed;

  // The daemon and the other connection carry on.
  running.stdin.end('yes\n');
  assert.equal((await running.done).kind, 'exit');
  assert.equal(out.text(), 'fine-yes\n');
  bystander.close();
  const r = await runCommand(d.daemon.port, d.id, 'echo alive');
  assert.equal(r.stdout.toString(), 'alive\n');
  assert.ok(d.daemon.logs().includes('TLSSH_ERR_SESSION_ID'), 'the daemon logs the violation');
});

test('a protocol violation inside one session ends the whole connection', { timeout: 60_000 }, async () => {
  const bad = await rawMux(d.daemon.port, d.id);
  bad.send({ session: 3, message: sessionRequest({ command: 'sleep 60' }) });
  await bad.next((f) => f.message.type === 'session-started');
  // stdout is the server's to write.
  bad.send({ session: 3, message: { type: 'data', stream: 1, data: Buffer.from('x') } });
  const err = await bad.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err.message.type === 'error' && err.message.code, 'TLSSH_ERR_PROTOCOL_STATE');
  await bad.closed;
});

test('the server acknowledges an abandoned session with session-close, and the id can be used again', { timeout: 60_000 }, async () => {
  const raw = await rawMux(d.daemon.port, d.id);
  raw.send({ session: 9, message: sessionRequest({ command: 'sleep 60' }) });
  await raw.next((f) => f.session === 9 && f.message.type === 'session-started');
  raw.send({ session: 9, message: { type: 'session-close' } });
  await raw.next((f) => f.session === 9 && f.message.type === 'session-close');
  raw.frames.length = 0;
  raw.send({ session: 9, message: sessionRequest({ command: 'exit 6' }) });
  const exit = await raw.next((f) => f.session === 9 && f.message.type === 'exit-status');
  assert.equal(exit.message.type === 'exit-status' && exit.message.code, 6);
  raw.send({ session: 9, message: { type: 'session-close' } });
  // A second session-close for the same id, now free, is a violation.
  raw.send({ session: 9, message: { type: 'session-close' } });
  const err = await raw.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err.message.type === 'error' && err.message.code, 'TLSSH_ERR_SESSION_ID');
});

/** A command that ignores the hang-up and ends when `flag` exists, or after a minute. */
const lingerer = (flag: string): string => `trap "" HUP; echo up; i=0; while [ ! -e ${flag} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;

test('ids of ended or refused sessions the client never closes are bounded: the connection ends at MaxSessions + 16', { timeout: 60_000 }, async () => {
  const raw = await rawMux(d.daemon.port, d.id);
  // MaxSessions (10 by default) sessions that wait, then requests refused for MaxSessions, one
  // after another, never closed: each is answered, and each id stays remembered until its
  // session-close, which never comes. (Refusals the worker makes, such as another user, end the
  // connection at the tenth anyway: the test above.)
  const limit = 10 + MUX_LIMITS.maxUnacknowledged;
  for (let id = 1; id <= 10; id++) {
    raw.send({ session: id, message: sessionRequest({ command: 'read x' }) });
    await raw.next((f) => f.session === id && f.message.type === 'session-started');
  }
  for (let id = 11; id <= limit; id++) {
    raw.send({ session: id, message: sessionRequest({ command: 'true' }) });
    const refused = await raw.next((f) => f.session === id && f.message.type === 'session-error');
    assert.equal(refused.message.type === 'session-error' && refused.message.code, 'TLSSH_ERR_MAX_SESSIONS');
  }
  raw.send({ session: limit + 1, message: sessionRequest({ command: 'true' }) });
  const err = await raw.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err.message.type === 'error' && err.message.code, 'TLSSH_ERR_MAX_SESSIONS');
  await raw.closed;

  // The same for sessions that ran and exited: their exit status sent, no session-close back.
  const ran = await rawMux(d.daemon.port, d.id);
  for (let id = 1; id <= limit; id++) {
    ran.send({ session: id, message: sessionRequest({ command: 'true' }) });
    await ran.next((f) => f.session === id && f.message.type === 'exit-status');
  }
  ran.send({ session: limit + 1, message: sessionRequest({ command: 'true' }) });
  const err2 = await ran.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err2.message.type === 'error' && err2.message.code, 'TLSSH_ERR_MAX_SESSIONS');
  await ran.closed;
});

test('an abandoned session whose process ignores the hang-up keeps its MaxSessions slot until the process ends', { timeout: 60_000 }, async () => {
  const dir = `${d.fx.dir}/max-sessions-lingering`;
  fs.mkdirSync(dir, { mode: 0o755 });
  const daemon = await startTlsshd({ dir, config: { ...d.fx.config, ...d.me.config, MaxSessions: '1' } });
  const flag = path.join(dir, 'go');
  try {
    const raw = await rawMux(daemon.port, d.id);
    // Ignores SIGHUP, then lives until the flag file appears (a minute at most, should the test fail).
    raw.send({ session: 1, message: sessionRequest({ command: lingerer(flag) }) });
    await raw.next((f) => f.session === 1 && f.message.type === 'data');
    raw.send({ session: 1, message: { type: 'session-close' } });
    await raw.next((f) => f.session === 1 && f.message.type === 'session-close');
    // Its process still runs: the one slot is still taken.
    raw.send({ session: 2, message: sessionRequest({ command: 'true' }) });
    const refused = await raw.next((f) => f.session === 2 && f.message.type === 'session-error');
    assert.equal(refused.message.type === 'session-error' && refused.message.code, 'TLSSH_ERR_MAX_SESSIONS');
    raw.send({ session: 2, message: { type: 'session-close' } });
    // Once it has ended, the slot is free again.
    fs.writeFileSync(flag, '');
    await daemon.waitForLog(/session 1: session closed/);
    raw.send({ session: 3, message: sessionRequest({ command: 'exit 4' }) });
    const exit = await raw.next((f) => f.session === 3 && f.message.type === 'exit-status');
    assert.equal(exit.message.type === 'exit-status' && exit.message.code, 4);
  } finally {
    try {
      fs.writeFileSync(flag, '');
    } finally {
      await daemon.stop();
    }
  }
});

test('an id used again lists both sessions: the old one\'s end does not take the new one off tlsshctl sessions', { timeout: 60_000 }, async (t) => {
  const raw = await rawMux(d.daemon.port, d.id);
  const flag = path.join(d.fx.dir, 'reuse-go');
  // Session 4 ignores the hang-up and outlives its id; then session 4 again.
  t.after(() => fs.writeFileSync(flag, ''));
  raw.send({ session: 4, message: sessionRequest({ command: lingerer(flag) }) });
  await raw.next((f) => f.session === 4 && f.message.type === 'data');
  raw.send({ session: 4, message: { type: 'session-close' } });
  await raw.next((f) => f.session === 4 && f.message.type === 'session-close');
  raw.frames.length = 0;
  raw.send({ session: 4, message: sessionRequest({ command: 'echo second; exec sleep 600' }) });
  await raw.next((f) => f.session === 4 && f.message.type === 'data');
  const list = async (): Promise<SessionView[]> => {
    const { stdout: out } = await tlsshctl('sessions', '--json');
    return (JSON.parse(out) as { sessions: SessionView[] }).sessions;
  };
  await until(async () => (await list()).filter((v) => v.session === 4).length === 2);
  // The first one ends: the second is still listed.
  fs.writeFileSync(flag, '');
  const rows = await until(async () => {
    const mine = (await list()).filter((v) => v.session === 4);
    return mine.length === 1 ? mine : false;
  });
  assert.equal(rows[0]?.command, 'echo second; exec sleep 600');
  raw.send({ session: 4, message: { type: 'session-close' } });
});

export type { MuxSession };

// A daemon that gives a client one second to log in.
const graced = daemonForLoginUser('tlsshd-mux-grace', { LoginGraceTime: '1' });

test('a shared connection logs in at once: with no session it outlives LoginGraceTime, and a session then runs', { timeout: 60_000 }, async () => {
  const conn = await openMux(graced.daemon.port, graced.id);
  try {
    let closed: unknown = 'open';
    conn.once('close', (err) => (closed = err));
    // Past LoginGraceTime with no session, as a master started with tlssh -M -N waits.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(closed, 'open', 'the server ended a logged-in shared connection');
    const out = collector();
    const s = await conn.openSession(sessionRequest({ command: 'echo late' }), { stdout: out.sink });
    assert.equal((await s.done).kind, 'exit');
    assert.equal(out.text(), 'late\n');
  } finally {
    conn.close();
  }
});

test('a shared connection whose certificate names no account is refused at once, before any session', { timeout: 60_000 }, async () => {
  const stranger = graced.fx.client('tlssh-no-such-account');
  const conn = await openMux(graced.daemon.port, stranger);
  const err = await new Promise<unknown>((resolve) => conn.once('close', resolve));
  assert.ok(isTlsshError(err), String(err));
  assert.equal(err.code, 'TLSSH_ERR_NO_SUCH_USER');
  await graced.daemon.waitForLog(/refused .*TLSSH_ERR_NO_SUCH_USER/);
});
