// The client's half of a tlssh/2+mux connection over real TLS on loopback, against a raw server
// that sends exactly what each test needs: the session table's rules (ids, finals that cross in
// flight, acknowledgements) as PROTOCOL.md section 12.4 and 12.6 state them.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { MuxChannel } from '../../src/transport/mux-channel';
import { MuxDecoder, encodeMuxFrame } from '../../src/protocol/mux-codec';
import type { MuxFrame } from '../../src/protocol/mux-messages';
import type { SessionRequest } from '../../src/protocol/messages';
import type { TlsshError } from '../../src/errors';
import { issueCert, makeCa, makeTempDir } from '../helpers/ca';

let dir = '';
let serverOpts: tls.TlsOptions;
let clientOpts: tls.ConnectionOptions;

before(() => {
  dir = makeTempDir('tlssh-mux-channel-');
  const ca = makeCa(dir);
  const srv = issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth' });
  const cli = issueCert(ca, { cn: 'alice', eku: 'clientAuth' });
  serverOpts = { cert: readFileSync(srv.certFile), key: readFileSync(srv.keyFile), ca: readFileSync(ca.certFile), requestCert: true, minVersion: 'TLSv1.3' };
  clientOpts = { cert: readFileSync(cli.certFile), key: readFileSync(cli.keyFile), ca: readFileSync(ca.certFile), minVersion: 'TLSv1.3', checkServerIdentity: () => undefined };
});

after(() => rmSync(dir, { recursive: true, force: true }));

interface RawServer {
  frames: MuxFrame[];
  /** 'data' events the raw peer saw: one per TLS record it read. */
  chunks(): number;
  send(f: MuxFrame): void;
  next(pred: (f: MuxFrame) => boolean): Promise<MuxFrame>;
  close(): void;
}

async function pair(muxRole: 'client' | 'server' = 'client', keepalive = 0): Promise<{ client: MuxChannel; server: RawServer }> {
  const srv = tls.createServer(serverOpts);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const sock = tls.connect({ ...clientOpts, host: '127.0.0.1', port: (srv.address() as { port: number }).port });
  await once(sock, 'secureConnect');
  const [peer] = await accepted;
  const decoder = new MuxDecoder();
  const frames: MuxFrame[] = [];
  const waiters: Array<() => void> = [];
  let chunks = 0;
  peer.on('data', (c: Buffer) => {
    chunks++;
    frames.push(...decoder.push(c));
    for (const w of waiters.splice(0)) w();
  });
  peer.on('error', () => undefined);
  // `client` is the MuxChannel under test, `server` the raw peer, whichever role each plays.
  const [mine, raw] = muxRole === 'client' ? [sock, peer] : [peer, sock];
  if (muxRole === 'server') {
    peer.removeAllListeners('data');
    sock.on('data', (c: Buffer) => {
      chunks++;
      frames.push(...decoder.push(c));
      for (const w of waiters.splice(0)) w();
    });
    sock.on('error', () => undefined);
  }
  return {
    client: new MuxChannel(mine, { role: muxRole, keepalive }),
    server: {
      frames,
      chunks: () => chunks,
      send: (f) => raw.write(encodeMuxFrame(f)),
      next: async (pred) => {
        for (;;) {
          const f = frames.find(pred);
          if (f) return f;
          if (peer.destroyed && sock.destroyed) throw new Error(`connection closed; frames: ${frames.map((x) => x.message.type).join(' ')}`);
          await new Promise<void>((r) => waiters.push(r));
        }
      },
      close: () => {
        peer.destroy();
        sock.destroy();
        srv.close();
        for (const w of waiters.splice(0)) w();
      },
    },
  };
}

const REQUEST: SessionRequest = { type: 'session-request', user: '', command: 'true', pty: false, term: '', cols: 0, rows: 0, env: [] };

test('the client acknowledges exit-status with session-close, and the id is free again', { timeout: 10_000 }, async () => {
  const { client, server } = await pair();
  const ended: number[] = [];
  client.on('session-end', (id) => ended.push(id));
  const { id, channel } = client.open();
  channel.send(REQUEST);
  await server.next((f) => f.session === id && f.message.type === 'session-request');
  server.send({ session: id, message: { type: 'session-started', user: 'alice', window: 1024 } });
  server.send({ session: id, message: { type: 'exit-status', code: 3, signal: null, coreDumped: false } });
  const exit = await new Promise((resolve) => channel.on('message', (m) => m.type === 'exit-status' && resolve(m)));
  assert.deepEqual(exit, { type: 'exit-status', code: 3, signal: null, coreDumped: false });
  await server.next((f) => f.session === id && f.message.type === 'session-close');
  assert.deepEqual(ended, [id]);
  assert.equal(client.sessionCount, 0);
  assert.equal(client.isClosed, false);
  client.destroy();
  server.close();
});

test('the frames of one event-loop turn leave as one TLS record', { timeout: 10_000 }, async () => {
  const { client, server } = await pair();
  // Three session-requests written in one go: the peer's TLS layer hands over one record per
  // read, so one 'data' event means one record. Node alone would send the first at once and
  // the other two behind it: two records.
  const ids = [1, 2, 3].map(() => {
    const { id, channel } = client.open();
    channel.send(REQUEST);
    return id;
  });
  try {
    for (const id of ids) await server.next((f) => f.session === id && f.message.type === 'session-request');
    assert.equal(server.chunks(), 1);
  } finally {
    client.destroy();
    server.close();
  }
});

test('what crosses an abandoned session\'s session-close is dropped, not an error', { timeout: 10_000 }, async () => {
  const { client, server } = await pair();
  const { id, channel } = client.open();
  channel.send(REQUEST);
  await server.next((f) => f.message.type === 'session-request');
  server.send({ session: id, message: { type: 'session-started', user: 'alice', window: 1024 } });
  await new Promise((resolve) => channel.on('message', (m) => m.type === 'session-started' && resolve(m)));
  channel.destroy();
  await server.next((f) => f.session === id && f.message.type === 'session-close');
  // In flight before the server saw it: output, then the server's own final.
  server.send({ session: id, message: { type: 'data', stream: 1, data: Buffer.from('late') } });
  server.send({ session: id, message: { type: 'session-close' } });
  await new Promise((resolve) => client.once('session-end', resolve));
  assert.equal(client.isClosed, false);
  // A second session on the same connection still works.
  const next = client.open();
  assert.notEqual(next.id, 0);
  client.destroy();
  server.close();
});

test('a server message for a session id that is not open ends the connection with TLSSH_ERR_SESSION_ID', { timeout: 10_000 }, async () => {
  const { client, server } = await pair();
  const closed = new Promise<TlsshError | undefined>((resolve) => client.once('close', resolve));
  const { channel } = client.open();
  const sessionClosed = new Promise<TlsshError | undefined>((resolve) => channel.once('close', resolve));
  channel.send(REQUEST);
  await server.next((f) => f.message.type === 'session-request');
  server.send({ session: 4242, message: { type: 'eof', stream: 1 } });
  const err = await server.next((f) => f.session === null && f.message.type === 'error');
  assert.equal(err.message.type === 'error' && err.message.code, 'TLSSH_ERR_SESSION_ID');
  assert.equal((await closed)?.code, 'TLSSH_ERR_SESSION_ID');
  // Every session of the connection ends with the connection's reason.
  assert.equal((await sessionClosed)?.code, 'TLSSH_ERR_SESSION_ID');
  server.close();
});

test('a session-error ends that session with the server\'s code; the connection goes on', { timeout: 10_000 }, async () => {
  const { client, server } = await pair();
  const a = client.open();
  const b = client.open();
  a.channel.send(REQUEST);
  b.channel.send(REQUEST);
  await server.next((f) => f.session === b.id && f.message.type === 'session-request');
  const aClosed = new Promise<TlsshError | undefined>((resolve) => a.channel.once('close', resolve));
  server.send({ session: a.id, message: { type: 'session-error', code: 'TLSSH_ERR_MAX_SESSIONS', message: 'MaxSessions 1' } });
  assert.equal((await aClosed)?.code, 'TLSSH_ERR_MAX_SESSIONS');
  await server.next((f) => f.session === a.id && f.message.type === 'session-close');
  assert.equal(b.channel.isClosed, false);
  assert.equal(client.isClosed, false);
  client.destroy();
  server.close();
});

test('keepalive is connection-wide: it goes on with no session open, and a silent peer is dropped', { timeout: 20_000 }, async () => {
  const { client: server, server: peer } = await pair('server', 1);
  // Closed whatever happens, so that a failure ends the file instead of leaving it open.
  const cleanup = setTimeout(() => {
    server.destroy();
    peer.close();
  }, 15_000);
  cleanup.unref();
  server.on('session', () => undefined);
  peer.send({ session: 1, message: REQUEST });
  peer.send({ session: 1, message: { type: 'session-close' } });
  await peer.next((f) => f.session === 1 && f.message.type === 'session-close');
  assert.equal(server.sessionCount, 0);
  // An idle shared connection (ControlPersist) is still pinged, and stays while answered.
  for (let n = 0; n < 2; n++) {
    const ping = await peer.next((f) => f.message.type === 'ping');
    peer.frames.splice(peer.frames.indexOf(ping), 1);
    if (ping.message.type === 'ping') peer.send({ session: null, message: { type: 'pong', cookie: ping.message.cookie } });
  }
  assert.equal(server.isClosed, false);
  // Then the peer stops answering.
  const [err] = (await once(server, 'close')) as [TlsshError | undefined];
  assert.equal(err?.code, 'TLSSH_ERR_KEEPALIVE_TIMEOUT');
  clearTimeout(cleanup);
  peer.close();
});

test('a session\'s exit-status is written at once, not held to the end of the turn', { timeout: 10_000 }, async () => {
  const { client: server, server: peer } = await pair('server');
  try {
    const opened = once(server, 'session') as Promise<[import('../../src/transport/channel').Channel, number]>;
    peer.send({ session: 1, message: REQUEST });
    const [channel] = await opened;
    channel.send({ type: 'session-started', user: 'alice', window: 1024 });
    // Whatever the turn does after the last frame (the worker logs the session's end and
    // reports it to the listener) must not come before it on the wire.
    channel.send({ type: 'exit-status', code: 0, signal: null, coreDumped: false });
    assert.equal(server.socket.writableCorked, 0);
    const exit = await peer.next((f) => f.session === 1 && f.message.type === 'exit-status');
    assert.deepEqual(exit.message, { type: 'exit-status', code: 0, signal: null, coreDumped: false });
  } finally {
    server.destroy();
    peer.close();
  }
});

test('a client answers a server\'s ping that comes before its first session-request', { timeout: 10_000 }, async () => {
  // A shared connection is logged in at once, so the server may ping a master that has not
  // asked for a session yet (tlssh -M -N).
  const { client, server } = await pair();
  try {
    server.send({ session: null, message: { type: 'ping', cookie: 7 } });
    const pong = await server.next((f) => f.message.type === 'pong' || f.message.type === 'error');
    assert.deepEqual(pong.message, { type: 'pong', cookie: 7 });
    assert.equal(client.isClosed, false);
  } finally {
    client.destroy();
    server.close();
  }
});

test('a server connection that has logged in pings before any session-request', { timeout: 10_000 }, async () => {
  const { client: server, server: peer } = await pair('server', 1);
  try {
    server.loggedIn();
    // Bounded, so that a server that never pings fails here instead of holding the file open.
    const ping = await Promise.race([
      peer.next((f) => f.message.type === 'ping'),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
    ]);
    assert.ok(ping, 'no ping within 5 s with Keepalive 1');
    assert.equal(ping.session, null);
  } finally {
    server.destroy();
    peer.close();
  }
});
