// The channel over real TLS on loopback: flow control bounds what a stalled reader makes the
// sender buffer, control traffic keeps flowing meanwhile, and a hostile peer ends only its own
// connection with a stable error code.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { Channel, OUTPUT_DATA_BOUND, OUTPUT_READ_BOUND, SEND_CHUNK, VIEW_MIN, WRITER_HIGH_WATER } from '../../src/transport/channel';
import { encodeMessage, MessageDecoder } from '../../src/protocol/codec';
import { LIMITS, STREAM, type Message } from '../../src/protocol/messages';
import type { TlsshError } from '../../src/errors';
import { issueCert, makeCa, makeTempDir } from '../helpers/ca';

interface Pair {
  server: tls.TLSSocket;
  client: tls.TLSSocket;
  close(): void;
}

let dir = '';
let serverOpts: tls.TlsOptions;
let clientOpts: tls.ConnectionOptions;

before(() => {
  dir = makeTempDir('tlssh-channel-');
  const ca = makeCa(dir);
  const srv = issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth' });
  const cli = issueCert(ca, { cn: 'alice', eku: 'clientAuth' });
  serverOpts = { cert: readFileSync(srv.certFile), key: readFileSync(srv.keyFile), ca: readFileSync(ca.certFile), requestCert: true, minVersion: 'TLSv1.3' };
  clientOpts = { cert: readFileSync(cli.certFile), key: readFileSync(cli.keyFile), ca: readFileSync(ca.certFile), minVersion: 'TLSv1.3', servername: 'localhost', checkServerIdentity: () => undefined };
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function tlsPair(): Promise<Pair> {
  const server = tls.createServer(serverOpts);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const client = tls.connect({ ...clientOpts, host: '127.0.0.1', port });
  await once(client, 'secureConnect');
  const [sock] = await accepted;
  return {
    server: sock,
    client,
    close() {
      client.destroy();
      sock.destroy();
      server.close();
    },
  };
}

/** Reads frames from a raw socket, for peers that misbehave on purpose. */
function rawReader(sock: tls.TLSSocket): Message[] {
  const seen: Message[] = [];
  const dec = new MessageDecoder();
  sock.on('data', (c: Buffer) => seen.push(...dec.push(c)));
  return seen;
}

/** The channel's 'close', or a rejection after `ms`: a bound against hangs, not a timing assertion. */
function closeOf(ch: Channel, ms = 10_000): Promise<[TlsshError | undefined]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the channel never closed')), ms);
    ch.once('close', (e) => {
      clearTimeout(timer);
      resolve([e]);
    });
  });
}

const REQUEST: Message = { type: 'session-request', user: '', command: '', pty: false, term: '', cols: 0, rows: 0, env: [] };

/** The session handshake, so that data may flow: the client's request, the server's answer. */
/** An opened server and client Channel over a fresh TLS pair, closed whatever `fn` does. */
async function withOpenChannels(fn: (server: Channel, client: Channel, p: Pair) => Promise<void>): Promise<void> {
  const p = await tlsPair();
  try {
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const b = new Channel(p.client, { role: 'client', keepalive: 0 });
    open(a, b);
    await fn(a, b, p);
  } finally {
    // A failed assertion must not leave the pair open: the test process would never exit.
    p.close();
  }
}

function open(server: Channel, client: Channel): void {
  client.send(REQUEST);
  server.send({ type: 'session-started', user: 'alice', window: LIMITS.defaultWindow });
}

describe('channel', () => {
  test('carries data both ways and ends the destination at eof', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const b = new Channel(p.client, { role: 'client', keepalive: 0 });
    open(a, b);
    const chunks: Buffer[] = [];
    const sink = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
    b.incoming(STREAM.stdout, sink);
    const payload = Buffer.alloc(5 * LIMITS.defaultWindow);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 11)) & 0xff;
    a.outgoing(STREAM.stdout).end(payload);
    await once(sink, 'finish');
    assert.deepEqual(Buffer.concat(chunks), payload);
    p.close();
  });

  test('a reader that stops draining receives exactly one window, and keepalive still flows', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 1 });
    const b = new Channel(p.client, { role: 'client', keepalive: 1 });
    open(a, b);
    let received = 0;
    // Never calls back: the bytes never "leave the process", so no credit returns.
    const stalled = new Writable({ highWaterMark: 1 << 30, write(c: Buffer) { received += c.length; } });
    b.incoming(STREAM.stdout, stalled);
    const out = a.outgoing(STREAM.stdout);
    const block = Buffer.alloc(LIMITS.maxDataChunk, 0x61);
    const target = 4 * LIMITS.defaultWindow;
    let written = 0;
    // Keep writing whenever the writable drains; it must stop draining once credit runs out.
    const pump = (): void => {
      while (written < target) {
        written += block.length;
        if (!out.write(block)) return void out.once('drain', pump);
      }
    };
    pump();
    const closed: Array<TlsshError | undefined> = [];
    a.on('close', (e) => closed.push(e));
    b.on('close', (e) => closed.push(e));
    await new Promise((r) => setTimeout(r, 3500)); // three keepalive periods
    // Bytes handed to the destination: writableLength counts the chunk it is stuck on too.
    assert.ok(received > 0);
    assert.equal(stalled.writableLength, LIMITS.defaultWindow);
    assert.ok(written < target, `the writer was never held back: ${written} bytes accepted`);
    assert.deepEqual(closed, [], 'pings are answered while data is stalled');
    p.close();
  });

  test('bulk data goes out in frames that each fit one TLS record', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const seen = rawReader(p.client);
    p.client.write(encodeMessage(REQUEST));
    a.send({ type: 'session-started', user: 'alice', window: LIMITS.defaultWindow });
    const payload = Buffer.alloc(200_000, 0x62);
    a.outgoing(STREAM.stdout).end(payload);
    while (!seen.some((m) => m.type === 'eof')) await once(p.client, 'data');
    const data = seen.filter((m) => m.type === 'data');
    assert.equal(data.reduce((n, m) => n + m.data.length, 0), payload.length);
    // 16384 bytes is TLS's largest record (plaintext): a bigger frame spans records.
    for (const m of data) assert.ok(encodeMessage(m).length <= 16384, `a frame of ${encodeMessage(m).length} bytes`);
    p.close();
  });

  test('garbage from the peer closes the connection with a frame error and tells the peer', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const seen = rawReader(p.client);
    const closed = once(a, 'close') as Promise<[TlsshError | undefined]>;
    p.client.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_FRAME_TOO_LARGE');
    await once(p.client, 'end');
    assert.equal(seen.at(-1)?.type, 'error');
    p.close();
  });

  test('data beyond the granted window is a flow-control error', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    // A destination that never drains, so no credit is returned while the peer floods.
    a.incoming(STREAM.stdin, new Writable({ highWaterMark: 1 << 30, write() {} }));
    const closed = once(a, 'close') as Promise<[TlsshError | undefined]>;
    p.client.write(encodeMessage(REQUEST));
    const block = Buffer.alloc(LIMITS.maxDataChunk);
    for (let sent = 0; sent <= LIMITS.defaultWindow; sent += block.length) {
      p.client.write(encodeMessage({ type: 'data', stream: STREAM.stdin, data: block }));
    }
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_FLOW_CONTROL');
    p.close();
  });

  test('exactly the granted window is taken; one byte more is a flow-control error', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    a.incoming(STREAM.stdin, new Writable({ highWaterMark: 1 << 30, write() {} }));
    const seen = rawReader(p.client);
    let closedWith: TlsshError | undefined | 'open' = 'open';
    a.once('close', (e: TlsshError | undefined) => (closedWith = e));
    p.client.write(encodeMessage(REQUEST));
    for (let sent = 0; sent < LIMITS.defaultWindow;) {
      const n = Math.min(LIMITS.maxDataChunk, LIMITS.defaultWindow - sent);
      p.client.write(encodeMessage({ type: 'data', stream: STREAM.stdin, data: Buffer.alloc(n) }));
      sent += n;
    }
    try {
      // A pong behind the whole window: the channel read all of it and is still there.
      p.client.write(encodeMessage({ type: 'ping', cookie: 7 }));
      while (!seen.some((m) => m.type === 'pong') && closedWith === 'open') await new Promise((r) => setImmediate(r));
      assert.equal(closedWith, 'open');
      const closed = closeOf(a);
      p.client.write(encodeMessage({ type: 'data', stream: STREAM.stdin, data: Buffer.alloc(1) }));
      const [err] = await closed;
      assert.equal(err?.code, 'TLSSH_ERR_FLOW_CONTROL');
    } finally {
      p.close();
    }
  });

  test('a peer that stops answering pings is dropped after three', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 1 });
    rawReader(p.client); // reads, never answers
    p.client.write(encodeMessage(REQUEST));
    const [err] = (await once(a, 'close')) as [TlsshError | undefined];
    assert.equal(err?.code, 'TLSSH_ERR_KEEPALIVE_TIMEOUT');
    p.close();
  });

  test('an error frame from the peer is reported with its code', async () => {
    const p = await tlsPair();
    const b = new Channel(p.client, { role: 'client', keepalive: 0 });
    const messages: Message[] = [];
    b.on('message', (m) => messages.push(m));
    const closed = once(b, 'close') as Promise<[TlsshError | undefined]>;
    p.server.end(encodeMessage({ type: 'error', code: 'TLSSH_ERR_USER_MISMATCH', message: 'no' }));
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_USER_MISMATCH');
    assert.equal(messages[0]?.type, 'error');
    p.close();
  });

  test('an idle pair answering each other stays up for many keepalive periods', async () => {
    const p = await tlsPair();
    // 0.2 s keepalive, dropped after 2 unanswered pings: if pongs did not count, both ends would
    // give up after 0.6 s; this waits ten periods.
    const a = new Channel(p.server, { role: 'server', keepalive: 0.2, keepaliveMaxMissed: 2 });
    const b = new Channel(p.client, { role: 'client', keepalive: 0.2, keepaliveMaxMissed: 2 });
    open(a, b);
    const closed: Array<TlsshError | undefined> = [];
    a.on('close', (e) => closed.push(e));
    b.on('close', (e) => closed.push(e));
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(closed, [], 'keepalive dropped a peer that answered every ping');
    p.close();
  });

  test('a pong that answers no ping in flight is a protocol error', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const seen = rawReader(p.client);
    const closed = closeOf(a);
    p.client.write(encodeMessage(REQUEST));
    p.client.write(encodeMessage({ type: 'pong', cookie: 7 }));
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_PROTOCOL_STATE');
    await once(p.client, 'end');
    assert.equal(seen.at(-1)?.type, 'error');
    p.close();
  });

  test('a pong repeating an answered cookie is a protocol error; the right cookie keeps it alive', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0.1, keepaliveMaxMissed: 3 });
    const closed = closeOf(a);
    const dec = new MessageDecoder();
    let answered = 0;
    p.client.on('data', (c: Buffer) => {
      for (const m of dec.push(c)) {
        if (m.type !== 'ping') continue;
        answered++;
        p.client.write(encodeMessage({ type: 'pong', cookie: m.cookie }));
        // Five genuine answers, then the last one again: a replay must not count.
        if (answered === 5) p.client.write(encodeMessage({ type: 'pong', cookie: m.cookie }));
      }
    });
    p.client.write(encodeMessage(REQUEST));
    const [err] = await closed;
    assert.equal(answered, 5);
    assert.equal(err?.code, 'TLSSH_ERR_PROTOCOL_STATE');
    p.close();
  });

  test('a peer that floods pings and never reads makes the channel stop reading, not buffer', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    // Count the channel's writes: a write per pong costs far more memory than its 9 bytes.
    let writes = 0;
    const write = p.server.write.bind(p.server) as (...args: unknown[]) => boolean;
    (p.server as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]): boolean => {
      writes++;
      return write(...args);
    };
    const stalled = once(a, 'stalled') as Promise<[number]>;
    p.client.write(encodeMessage(REQUEST));
    const ping = encodeMessage({ type: 'ping', cookie: 1 });
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => ping));
    // The client never reads; it writes until the server stalls (it stops reading at once).
    let stop = false;
    void stalled.then(() => { stop = true; });
    const pump = (): void => {
      while (!stop) if (!p.client.write(batch)) return void p.client.once('drain', pump);
    };
    pump();
    const [unsent] = await stalled;
    assert.ok(unsent > OUTPUT_READ_BOUND);
    // A single read's worth of pongs above the bound at most, never the whole flood.
    assert.ok(a.socket.writableLength <= OUTPUT_READ_BOUND + 256 * 1024, `${a.socket.writableLength} bytes queued`);
    assert.equal(a.socket.isPaused(), true);
    // Over 1 MiB of pongs is over 100k pongs; they went out in one write per read.
    assert.ok(writes < 5000, `${writes} writes for ${unsent} bytes of pongs`);
    p.close();
  });

  test('an error frame from the client ends the server side at once', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const closed = closeOf(a);
    p.client.write(encodeMessage(REQUEST));
    // The client sends its error but keeps the connection open: the server must not wait.
    p.client.write(encodeMessage({ type: 'error', code: 'TLSSH_ERR_INTERNAL', message: 'client gave up' }));
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_INTERNAL');
    p.close();
  });

  test('data before the session request is a protocol error', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { role: 'server', keepalive: 0 });
    const closed = closeOf(a);
    p.client.write(encodeMessage({ type: 'data', stream: STREAM.stdin, data: Buffer.from('early') }));
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_PROTOCOL_STATE');
    p.close();
  });

  test('chunks of every size around the frame and record limits arrive whole and in order', { timeout: 60_000 }, async () => withOpenChannels(async (a, b) => {
    const chunks: Buffer[] = [];
    const sink = new Writable({ write(c: Buffer, _e, cb) { chunks.push(Buffer.from(c)); cb(); } });
    b.incoming(STREAM.stdout, sink, { coalesce: true });
    // Sizes below, at and above the size sent as a view, one frame, one record and a pipe read.
    const sizes = [1, VIEW_MIN - 1, VIEW_MIN, VIEW_MIN + 1, SEND_CHUNK - 1, SEND_CHUNK, SEND_CHUNK + 1, 16384, 16385,
      2 * SEND_CHUNK + 5, 65536, 65535, 100_003, 7, LIMITS.maxDataChunk + 1, 3 * 65536 + 11];
    const out = a.outgoing(STREAM.stdout);
    const sent: Buffer[] = [];
    let seq = 0;
    for (let round = 0; round < 8; round++) {
      for (const n of sizes) {
        const c = Buffer.alloc(n);
        for (let i = 0; i < n; i++) c[i] = (seq++ * 131 + (i >> 8)) & 0xff;
        sent.push(c);
        if (!out.write(c)) await once(out, 'drain');
      }
    }
    out.end();
    await once(sink, 'finish');
    assert.ok(Buffer.concat(chunks).equals(Buffer.concat(sent)), 'the bytes differ from those sent');
  }));

  test('what arrives in one turn of the event loop reaches a coalescing destination in one write', { timeout: 60_000 }, async () => withOpenChannels(async (a, b) => {
    const batches: number[] = [];
    let bytes = 0;
    const sink = new Writable({
      write(c: Buffer, _e, cb) { batches.push(1); bytes += c.length; cb(); },
      writev(cs, cb) { batches.push(cs.length); for (const { chunk } of cs) bytes += (chunk as Buffer).length; cb(); },
    });
    b.incoming(STREAM.stdout, sink, { coalesce: true });
    const payload = Buffer.alloc(4 * 1024 * 1024, 0x63);
    a.outgoing(STREAM.stdout).end(payload);
    await once(sink, 'finish');
    assert.equal(bytes, payload.length);
    // Each frame is one TLS record, and a socket read holds several: some turns deliver many.
    assert.ok(Math.max(...batches) > 1, `every frame was written on its own (${batches.length} writes)`);
  }));

  test('a coalescing destination that stops draining still receives exactly one window', { timeout: 60_000 }, async () => withOpenChannels(async (a, b) => {
    const stalled = new Writable({ highWaterMark: 1 << 30, write() {}, writev() {} });
    b.incoming(STREAM.stdout, stalled, { coalesce: true });
    const out = a.outgoing(STREAM.stdout);
    let written = 0;
    const block = Buffer.alloc(65536, 0x64);
    const pump = (): void => {
      while (written < 4 * LIMITS.defaultWindow) {
        written += block.length;
        if (!out.write(block)) return void out.once('drain', pump);
      }
    };
    pump();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(stalled.writableLength, LIMITS.defaultWindow);
    assert.ok(written < 4 * LIMITS.defaultWindow, `the writer was never held back: ${written} bytes accepted`);
  }));

  test('coalesced streams keep the order in which their data arrived', { timeout: 60_000 }, async () => withOpenChannels(async (a, b, p) => {
    const log: string[] = [];
    const sinkFor = (name: string): Writable => new Writable({
      write(c: Buffer, _e, cb) { log.push(`${name}:${c.toString()}`); cb(); },
      writev(cs, cb) { for (const { chunk } of cs) log.push(`${name}:${(chunk as Buffer).toString()}`); cb(); },
    });
    b.incoming(STREAM.stdout, sinkFor('out'), { coalesce: true });
    b.incoming(STREAM.stderr, sinkFor('err'), { coalesce: true });
    const out = a.outgoing(STREAM.stdout);
    const err = a.outgoing(STREAM.stderr);
    // One TLS record, so one read and one turn of the client's event loop.
    p.server.cork();
    out.write('a');
    err.write('b');
    out.write('c');
    err.write('d');
    out.write('e');
    p.server.uncork();
    while (log.length < 5) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(log, ['out:a', 'err:b', 'out:c', 'err:d', 'out:e']);
  }));

  test('a 64 KiB read goes on without pausing its source or waiting for TLS to finish writing it', { timeout: 60_000 }, async () => withOpenChannels(async (a, b, p) => {
    b.incoming(STREAM.stdout, new Writable({ write(_c, _e, cb) { cb(); } }));
    const out = a.outgoing(STREAM.stdout);
    // A pipe or socket read: the source must not be asked to pause after each one.
    let unsentAtCallback = -1;
    const accepted = out.write(Buffer.alloc(65536, 0x65), () => { unsentAtCallback = p.server.writableLength; });
    assert.equal(accepted, true, 'the writer asked its source to pause after one read');
    // The callback frees the source for its next read while TLS still holds this one.
    await new Promise((r) => setImmediate(r));
    assert.ok(unsentAtCallback > 0, `the writer waited for TLS to drain (${unsentAtCallback} bytes unsent at its callback)`);
  }));

  test('with window to spare, a peer that stops reading holds the writer back at the socket bound', { timeout: 60_000 }, async () => withOpenChannels(async (a, _b, p) => {
    p.client.pause();
    // The largest window a peer may grant, so that the socket, not the credit, is what must stop the writer.
    const out = a.outgoing(STREAM.stdout, LIMITS.maxWindow - LIMITS.defaultWindow);
    const block = Buffer.alloc(65536, 0x66);
    let written = 0;
    const target = 32 * 1024 * 1024;
    const pump = (): void => {
      while (written < target) {
        written += block.length;
        if (!out.write(block)) return void out.once('drain', pump);
      }
    };
    pump();
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(written < target, `the writer was never held back: ${written} bytes accepted`);
    // What the process holds: the socket's unsent output and the writer's buffer, each bounded.
    assert.ok(p.server.writableLength < OUTPUT_DATA_BOUND + 2 * SEND_CHUNK, `${p.server.writableLength} bytes unsent in the socket`);
    assert.ok(out.writableLength <= WRITER_HIGH_WATER + block.length, `${out.writableLength} bytes in the writer`);
    // And it took a few reads before asking its source to pause, not one.
    assert.ok(out.writableLength >= WRITER_HIGH_WATER, `the writer paused its source at ${out.writableLength} bytes`);
  }));
});
