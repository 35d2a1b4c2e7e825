// The channel over real TLS on loopback: flow control bounds what a stalled reader makes the
// sender buffer, control traffic keeps flowing meanwhile, and a hostile peer ends only its own
// connection with a stable error code.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { Channel } from '../../src/transport/channel';
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

describe('channel', () => {
  test('carries data both ways and ends the destination at eof', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { keepalive: 0 });
    const b = new Channel(p.client, { keepalive: 0 });
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
    const a = new Channel(p.server, { keepalive: 1 });
    const b = new Channel(p.client, { keepalive: 1 });
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

  test('garbage from the peer closes the connection with a frame error and tells the peer', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { keepalive: 0 });
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
    const a = new Channel(p.server, { keepalive: 0 });
    // A destination that never drains, so no credit is returned while the peer floods.
    a.incoming(STREAM.stdin, new Writable({ highWaterMark: 1 << 30, write() {} }));
    const closed = once(a, 'close') as Promise<[TlsshError | undefined]>;
    const block = Buffer.alloc(LIMITS.maxDataChunk);
    for (let sent = 0; sent <= LIMITS.defaultWindow; sent += block.length) {
      p.client.write(encodeMessage({ type: 'data', stream: STREAM.stdin, data: block }));
    }
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_FLOW_CONTROL');
    p.close();
  });

  test('a peer that stops answering pings is dropped after three', async () => {
    const p = await tlsPair();
    const a = new Channel(p.server, { keepalive: 1 });
    rawReader(p.client); // reads, never answers
    const [err] = (await once(a, 'close')) as [TlsshError | undefined];
    assert.equal(err?.code, 'TLSSH_ERR_KEEPALIVE_TIMEOUT');
    p.close();
  });

  test('an error frame from the peer is reported with its code', async () => {
    const p = await tlsPair();
    const b = new Channel(p.client, { keepalive: 0 });
    const messages: Message[] = [];
    b.on('message', (m) => messages.push(m));
    const closed = once(b, 'close') as Promise<[TlsshError | undefined]>;
    p.server.end(encodeMessage({ type: 'error', code: 'TLSSH_ERR_USER_MISMATCH', message: 'no' }));
    const [err] = await closed;
    assert.equal(err?.code, 'TLSSH_ERR_USER_MISMATCH');
    assert.equal(messages[0]?.type, 'error');
    p.close();
  });
});
