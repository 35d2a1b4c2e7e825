// The listener's hold on a new connection, over real loopback sockets: every outcome, and a
// ClientHello written a byte at a time comes out whole.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_PREAUTH_BYTES } from '../../src/server/client-hello-framing';
import { holdUntilClientHello, type HoldOutcome } from '../../src/server/preauth-hold';
import { captureClientHello } from '../helpers/client-hello';

let hello: Buffer;
let server: net.Server;
let port = 0;
let deadlineMs = 10_000;
const outcomes: Array<(o: HoldOutcome) => void> = [];

before(async () => {
  hello = await captureClientHello();
  server = net.createServer({ pauseOnConnect: true }, (s) => {
    holdUntilClientHello(s, deadlineMs, (o) => {
      outcomes.shift()?.(o);
      if (o.kind === 'hello') s.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
after(() => server.close());

/** Connects, lets `send` talk, and resolves with the listener's verdict. */
function outcome(send: (s: net.Socket) => void | Promise<void>): Promise<HoldOutcome> {
  const verdict = new Promise<HoldOutcome>((resolve) => outcomes.push(resolve));
  const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => void send(s));
  s.on('error', () => undefined);
  return verdict.finally(() => s.destroy());
}

test('a ClientHello written one byte at a time arrives whole, with every byte kept', async () => {
  const o = await outcome(async (s) => {
    for (const b of hello) {
      s.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
  });
  assert.equal(o.kind, 'hello');
  assert.ok(o.kind === 'hello' && o.prefix.equals(hello));
});

test('garbage, an oversized first read, an early close and silence each get their verdict', async () => {
  assert.equal((await outcome((s) => void s.write('SSH-2.0-OpenSSH_9.8\r\n'))).kind, 'garbage');
  // A ClientHello longer than its first record, then far more than the bound in one write.
  const big = Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xff]), Buffer.alloc(4 * MAX_PREAUTH_BYTES, 0x41)]);
  assert.equal((await outcome((s) => void s.write(big))).kind, 'garbage');
  const closed = await outcome((s) => void s.end(hello.subarray(0, 10)));
  assert.deepEqual(closed, { kind: 'closed', received: 10 });
  deadlineMs = 50;
  const silent = await outcome(() => undefined);
  assert.deepEqual(silent, { kind: 'timeout', received: 0 });
});
