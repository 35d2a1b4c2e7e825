// The test vectors are read out of doc/PROTOCOL.md itself, so the specification and the codec
// cannot drift apart: change either and this fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { encodeMessage, MessageDecoder } from '../../src/protocol/codec';
import { MSG, type Message } from '../../src/protocol/messages';
import { isTlsshError } from '../../src/errors';

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

const doc = readFileSync(path.join(repoRoot(), 'doc', 'PROTOCOL.md'), 'utf8');

function blocks(kind: string): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  const re = new RegExp('```' + kind + '\\n([\\s\\S]*?)```', 'g');
  for (const match of doc.matchAll(re)) {
    const fields = new Map<string, string>();
    for (const line of (match[1] ?? '').split('\n')) {
      const at = line.indexOf(':');
      if (at > 0) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    out.push(fields);
  }
  return out;
}

function hexField(fields: Map<string, string>): Buffer {
  const text = (fields.get('hex') ?? '').replace(/\s+/g, '');
  assert.match(text, /^([0-9a-f]{2})+$/, `bad hex in PROTOCOL.md: ${fields.get('hex')}`);
  return Buffer.from(text, 'hex');
}

function messageField(fields: Map<string, string>): Message {
  const json = fields.get('message');
  assert.ok(json !== undefined, 'vector without message');
  return JSON.parse(json, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      const hex = (value as { hex?: unknown }).hex;
      if (keys.length === 1 && typeof hex === 'string') return Buffer.from(hex, 'hex');
    }
    return value;
  }) as Message;
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
