// The tlssh/2+mux vectors of doc/PROTOCOL.md section 12.7, read out of the document itself, so
// the specification and the multiplexing codec cannot drift apart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MuxDecoder, encodeMuxFrame, muxFromPlain } from '../../src/protocol/mux-codec';
import { encodeMessage, MessageDecoder } from '../../src/protocol/codec';
import { MUX_MSG, type MuxFrame } from '../../src/protocol/mux-messages';
import { MSG } from '../../src/protocol/messages';
import { isTlsshError } from '../../src/errors';
import { hexField, parseWithHexBuffers, protocolDocBlocks as blocks } from '../helpers/protocol-doc';

function frameField(f: Map<string, string>): MuxFrame {
  const message = parseWithHexBuffers(f.get('message') ?? 'null') as MuxFrame['message'];
  const session = JSON.parse(f.get('session') ?? 'null') as number | null;
  return { session, message } as MuxFrame;
}

const valid = blocks('tlssh-mux-vector').map((f) => ({ frame: frameField(f), bytes: hexField(f) }));
const invalid = blocks('tlssh-mux-invalid').map((f) => ({ bytes: hexField(f), error: f.get('error') ?? '', why: f.get('why') ?? '' }));

test('section 12.7 has a vector for every per-session and connection-wide type', () => {
  const types = new Set(valid.map((v) => v.frame.message.type));
  for (const t of ['session-request', 'session-started', 'session-close', 'data', 'eof', 'window-adjust', 'window-change', 'signal', 'exit-status', 'session-error', 'ping', 'error']) {
    assert.ok(types.has(t as MuxFrame['message']['type']), `no vector for ${t}`);
  }
  assert.ok(invalid.length >= 6);
});

test('every mux vector encodes to the documented bytes', () => {
  for (const v of valid) assert.equal(encodeMuxFrame(v.frame).toString('hex'), v.bytes.toString('hex'), v.frame.message.type);
});

test('every mux vector decodes to the documented frame, whole and a byte at a time', () => {
  for (const v of valid) {
    const d = new MuxDecoder();
    // The decoder may rewrite the bytes it owns: give it a copy.
    assert.deepEqual(d.push(Buffer.from(v.bytes)), [v.frame]);
    d.finish();
  }
  const stream = Buffer.concat(valid.map((v) => v.bytes));
  const d = new MuxDecoder();
  const got: MuxFrame[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...d.push(Buffer.from(stream.subarray(i, i + 1))));
  d.finish();
  assert.deepEqual(got, valid.map((v) => v.frame));
});

test('every invalid mux vector fails with the documented code, and the decoder stays failed', () => {
  for (const v of invalid) {
    const d = new MuxDecoder();
    let thrown: unknown = null;
    try {
      d.push(Buffer.from(v.bytes));
      d.finish();
    } catch (e) {
      thrown = e;
    }
    assert.ok(isTlsshError(thrown), `no TlsshError for: ${v.why}`);
    assert.equal(thrown.code, v.error, v.why);
    assert.throws(() => d.push(Buffer.from('0000000520000000 01', 'hex')), (e: unknown) => isTlsshError(e) && e.code === v.error);
  }
});

test('a per-session frame is the tlssh/2 frame with the id after the type byte', () => {
  const plain = encodeMessage({ type: 'data', stream: 1, data: Buffer.from('abc') });
  const mux = muxFromPlain(9, plain);
  assert.equal(mux.toString('hex'), '00000009' + '10' + '00000009' + '01' + '616263');
  assert.equal(muxFromPlain(9, encodeMessage({ type: 'error', code: 'TLSSH_ERR_SPAWN', message: 'x' }), MUX_MSG.sessionError)[4], MUX_MSG.sessionError);
});

test('the encoder refuses what the decoder refuses', () => {
  const refuses = (f: unknown, code: string): void => {
    assert.throws(() => encodeMuxFrame(f as MuxFrame), (e: unknown) => isTlsshError(e) && e.code === code, JSON.stringify(f));
  };
  refuses({ session: 0, message: { type: 'session-close' } }, 'TLSSH_ERR_FRAME_MALFORMED');
  refuses({ session: 2 ** 32, message: { type: 'eof', stream: 0 } }, 'TLSSH_ERR_FRAME_MALFORMED');
  refuses({ session: 1, message: { type: 'ping', cookie: 1 } }, 'TLSSH_ERR_FRAME_MALFORMED');
  refuses({ session: null, message: { type: 'eof', stream: 0 } }, 'TLSSH_ERR_FRAME_MALFORMED');
  refuses({ session: 1, message: { type: 'session-error', code: 'nope', message: '' } }, 'TLSSH_ERR_FRAME_MALFORMED');
});

test('a plain tlssh/2 decoder does not know the mux-only types', () => {
  for (const type of [MUX_MSG.sessionClose, MUX_MSG.sessionError]) {
    assert.throws(() => new MessageDecoder().push(Buffer.from([0, 0, 0, 5, type, 0, 0, 0, 1])), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_UNKNOWN_TYPE');
  }
  assert.equal(MSG.error, 0x30);
});
