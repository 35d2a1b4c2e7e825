// The listener's ClientHello framing: a real ClientHello (from node:tls) is complete only when
// every byte has arrived, however it is split; anything that cannot be one is refused at once.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { MAX_PREAUTH_BYTES, frameClientHello } from '../../src/server/client-hello-framing';
import { captureClientHello } from '../helpers/client-hello';

let hello: Buffer;

before(async () => {
  hello = await captureClientHello();
});

function record(type: number, body: Buffer): Buffer {
  const h = Buffer.from([type, 3, 1, 0, 0]);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

test('a whole ClientHello is complete; every shorter prefix is incomplete', () => {
  assert.equal(hello[0], 22);
  assert.deepEqual(frameClientHello(hello), { state: 'complete', end: hello.length });
  for (let n = 0; n < hello.length; n++) {
    assert.equal(frameClientHello(hello.subarray(0, n)).state, 'incomplete', `prefix of ${n} bytes`);
  }
});

test('a ClientHello fragmented over several records is complete only with its last record', () => {
  const body = hello.subarray(5);
  const cuts = [3, 100, body.length];
  const parts: Buffer[] = [];
  let from = 0;
  for (const to of cuts) {
    parts.push(record(22, body.subarray(from, to)));
    from = to;
  }
  const all = Buffer.concat(parts);
  assert.deepEqual(frameClientHello(all), { state: 'complete', end: all.length });
  assert.equal(frameClientHello(all.subarray(0, all.length - 1)).state, 'incomplete');
  assert.equal(frameClientHello(Buffer.concat(parts.slice(0, 2))).state, 'incomplete');
});

test('first bytes that are not a TLS handshake record are refused at once', () => {
  for (const text of ['GET / HTTP/1.1\r\n', 'SSH-2.0-OpenSSH_9.8\r\n', '\x00', '\x80\x2e\x01\x03\x01']) {
    assert.equal(frameClientHello(Buffer.from(text, 'latin1')).state, 'invalid', JSON.stringify(text));
  }
  // Right content type, but not a TLS version.
  assert.equal(frameClientHello(Buffer.from([22, 4])).state, 'invalid');
  assert.equal(frameClientHello(Buffer.from([22, 3, 9])).state, 'invalid');
});

test('a record that is too long, empty, or not a ClientHello is refused', () => {
  assert.equal(frameClientHello(Buffer.from([22, 3, 1, 0x40, 0x01])).state, 'invalid', 'record over 16384');
  assert.equal(frameClientHello(Buffer.from([22, 3, 1, 0, 0])).state, 'invalid', 'empty record');
  assert.equal(frameClientHello(record(22, Buffer.from([2, 0, 0, 60]))).state, 'invalid', 'ServerHello first');
  assert.equal(frameClientHello(record(22, Buffer.from([1, 0x01, 0, 0]))).state, 'invalid', 'hello length over the bound');
  assert.equal(frameClientHello(record(22, Buffer.from([1, 0, 0, 4, 3, 3, 0, 0]))).state, 'invalid', 'hello too short to be one');
  // An alert (21) in the middle of a fragmented hello.
  const body = hello.subarray(5);
  const frag = Buffer.concat([record(22, body.subarray(0, 10)), record(21, Buffer.from([2, 40]))]);
  assert.equal(frameClientHello(frag).state, 'invalid');
});

test('a hello whose fragments would pass the byte bound is refused before the bound is read', () => {
  // 1-byte fragments: 6 bytes each on the wire, so the bound is hit long before 16 KiB of hello.
  const header = Buffer.from([1, 0, 0x3f, 0xff]);
  const parts: Buffer[] = [];
  for (const b of header) parts.push(record(22, Buffer.from([b])));
  for (let i = 0; parts.length * 6 < MAX_PREAUTH_BYTES + 12; i++) parts.push(record(22, Buffer.from([0])));
  const r = frameClientHello(Buffer.concat(parts));
  assert.equal(r.state, 'invalid');
});
