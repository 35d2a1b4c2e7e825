// One process per connection: a dying worker, a garbage frame or a stopped listener ends only
// what it should. Also LoginGraceTime and MaxStartups, which guard the unauthenticated phase.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { ALPN_TLSSH2 } from '../../src/protocol/messages';
import {
  connectClient, isAlive, loginUser, makeServerFixture, runCommand, sessionRequest, startTlsshd,
  type ClientIdentity, type ServerFixture, type TestSession,
} from '../helpers/server-harness';

let fx: ServerFixture;
let id: ClientIdentity;
const me = loginUser();
const leftovers: number[] = [];

before(() => {
  fx = makeServerFixture('tlsshd-process-model');
  id = fx.client(me.name);
});
after(() => {
  for (const pid of leftovers) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
});

/** An echo session that first prints its worker's pid (the shell's parent). */
async function echoSession(port: number): Promise<{ s: TestSession; worker: number }> {
  const s = connectClient(port, id, sessionRequest({ command: 'echo "worker=$PPID"; exec cat' }));
  const out = await s.waitForStdout((o) => /worker=\d+\n/.test(o));
  const worker = Number(/worker=(\d+)/.exec(out)?.[1]);
  leftovers.push(worker);
  return { s, worker };
}

async function echoes(s: TestSession, text: string): Promise<void> {
  s.write(`${text}\n`);
  await s.waitForStdout((o) => o.includes(`${text}\n`));
}

test('killing one worker ends only its own session', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  try {
    const a = await echoSession(d.port);
    const b = await echoSession(d.port);
    assert.notEqual(a.worker, b.worker, 'each connection has its own worker');
    process.kill(a.worker, 'SIGKILL');
    const ra = await a.s.result;
    assert.equal(ra.exit, undefined, 'the killed session ends without an exit status');
    await echoes(b.s, 'still-here');
    b.s.endStdin();
    assert.equal((await b.s.result).exit?.code, 0);
  } finally {
    await d.stop();
  }
});

test('stopping the listener keeps sessions; a new listener serves new ones beside them', async () => {
  const d1 = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  const a = await echoSession(d1.port);
  await d1.stop({ keepSessions: true });
  assert.ok(isAlive(a.worker), 'the worker outlives its listener');
  await echoes(a.s, 'after-stop');
  const d2 = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  try {
    const r = await runCommand(d2.port, id, 'echo new');
    assert.equal(r.stdout.toString(), 'new\n');
    await echoes(a.s, 'after-restart');
    a.s.endStdin();
    assert.equal((await a.s.result).exit?.code, 0);
  } finally {
    await d2.stop();
  }
});

test('a garbage frame ends only that connection, with a protocol error', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  try {
    const good = await echoSession(d.port);
    const bad = connectClient(d.port, id, sessionRequest({ command: 'exec cat' }));
    await bad.waitFor('session-started');
    // A length header far over the frame limit.
    bad.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x10, 0, 0, 0]));
    const r = await bad.result;
    assert.equal(r.error?.code, 'TLSSH_ERR_FRAME_TOO_LARGE');
    await echoes(good.s, 'unaffected');
    good.s.endStdin();
    assert.equal((await good.s.result).exit?.code, 0);
  } finally {
    await d.stop();
  }
});

test('LoginGraceTime closes a connection that never asks for a session', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, LoginGraceTime: '1' } });
  try {
    const s = connectClient(d.port, id, null);
    const r = await s.result;
    assert.equal(r.error?.code, 'TLSSH_ERR_LOGIN_GRACE_TIME');
    assert.equal(r.started, undefined);
  } finally {
    await d.stop();
  }
});

test('MaxStartups drops connections past "full" while others are unauthenticated', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, MaxStartups: '1:100:1' } });
  try {
    // One connection that never even starts TLS holds the only unauthenticated slot.
    const idle = net.connect(d.port, '127.0.0.1');
    await new Promise((resolve) => idle.once('connect', resolve));
    await d.waitForLog(/connection #1 from/);
    const dropped = await connectAndHandshake(d.port);
    assert.equal(dropped, false, 'the second connection is dropped before TLS completes');
    await d.waitForLog(/drop connection #2 .* past MaxStartups/);
    // The idle connection is held by the listener itself: no worker for it.
    assert.doesNotMatch(d.logs(), /connection #1 .*-> worker/);
    idle.destroy();
    // Once the slot is free again, logins work.
    await d.waitForLog(/connection #1 from .* closed before its ClientHello/);
    const r = await runCommand(d.port, id, 'true');
    assert.equal(r.exit?.code, 0);
  } finally {
    await d.stop();
  }
});

function connectAndHandshake(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1', port, ca: fs.readFileSync(fx.caFile), cert: fs.readFileSync(id.certFile), key: fs.readFileSync(id.keyFile),
      ALPNProtocols: [ALPN_TLSSH2], checkServerIdentity: () => undefined,
    });
    let ok = false;
    s.on('secureConnect', () => { ok = true; s.destroy(); });
    s.on('error', () => {});
    s.on('close', () => resolve(ok));
  });
}
