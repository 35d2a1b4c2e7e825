// The test vectors are read out of doc/PROTOCOL.md itself, so the specification and the codec
// cannot drift apart: change either and this fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, MessageDecoder } from '../../src/protocol/codec';
import { MSG, type Message } from '../../src/protocol/messages';
import { isTlsshError } from '../../src/errors';
import { hexField, parseWithHexBuffers, protocolDocBlocks as blocks } from '../helpers/protocol-doc';

function messageField(fields: Map<string, string>): Message {
  const json = fields.get('message');
  assert.ok(json !== undefined, 'vector without message');
  return parseWithHexBuffers(json) as Message;
}

const valid = blocks('tlssh-vector').map((f) => ({ message: messageField(f), bytes: hexField(f) }));
const invalid = blocks('tlssh-invalid').map((f) => ({
  bytes: hexField(f),
  error: f.get('error') ?? '',
  why: f.get('why') ?? '',
}));

test('PROTOCOL.md has vectors for every message type', () => {
  const types = new Set(valid.map((v) => v.message.type));
  assert.equal(types.size, Object.keys(MSG).length, `types with vectors: ${[...types].join(', ')}`);
  assert.ok(invalid.length >= 10, `only ${invalid.length} invalid vectors`);
});

test('every valid vector encodes to the documented bytes', () => {
  for (const v of valid) {
    assert.equal(encodeMessage(v.message).toString('hex'), v.bytes.toString('hex'), v.message.type);
  }
});

test('every valid vector decodes to the documented message', () => {
  for (const v of valid) {
    const d = new MessageDecoder();
    assert.deepEqual(d.push(v.bytes), [v.message]);
    assert.equal(d.buffered, 0);
    d.finish();
  }
});

test('all valid vectors as one stream, fed a byte at a time', () => {
  const stream = Buffer.concat(valid.map((v) => v.bytes));
  const d = new MessageDecoder();
  const got: Message[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
  d.finish();
  assert.deepEqual(got, valid.map((v) => v.message));
});

test('every invalid vector fails with the documented code', () => {
  for (const v of invalid) {
    const d = new MessageDecoder();
    let thrown: unknown = null;
    try {
      d.push(v.bytes);
      d.finish();
    } catch (e) {
      thrown = e;
    }
    assert.ok(isTlsshError(thrown), `no TlsshError for: ${v.why}`);
    assert.equal(thrown.code, v.error, v.why);
  }
});
