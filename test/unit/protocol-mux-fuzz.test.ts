// Hostile bytes into the tlssh/2+mux decoder, with a fixed seed: mutated valid frames and noise,
// cut anywhere. The decoder must return frames the encoder reproduces byte for byte, or fail with
// a protocol-category TlsshError, never anything else, and never buffer beyond one frame.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { categoryOf, isTlsshError } from '../../src/errors';
import { LIMITS } from '../../src/protocol/messages';
import { MuxDecoder, encodeMuxFrame } from '../../src/protocol/mux-codec';
import type { MuxFrame } from '../../src/protocol/mux-messages';
import { Rng } from '../fuzz/rng';

const SEEDS: MuxFrame[] = [
  { session: 1, message: { type: 'session-request', user: 'alice', command: 'ls', pty: true, term: 'xterm', cols: 80, rows: 24, env: [['LANG', 'C']] } },
  { session: 2, message: { type: 'session-started', user: 'alice', window: 2097152 } },
  { session: 3, message: { type: 'session-close' } },
  { session: 4, message: { type: 'data', stream: 1, data: Buffer.from('hello world') } },
  { session: 5, message: { type: 'eof', stream: 0 } },
  { session: 6, message: { type: 'window-adjust', stream: 2, bytes: 4096 } },
  { session: 7, message: { type: 'window-change', cols: 100, rows: 40 } },
  { session: 8, message: { type: 'signal', name: 'INT' } },
  { session: 9, message: { type: 'exit-status', code: null, signal: 'TERM', coreDumped: true } },
  { session: 10, message: { type: 'session-error', code: 'TLSSH_ERR_SPAWN', message: 'no shell' } },
  { session: null, message: { type: 'ping', cookie: 1 } },
  { session: null, message: { type: 'error', code: 'TLSSH_ERR_INTERNAL', message: 'x' } },
];

test('mutated and random input: frames that round-trip, or a protocol error', () => {
  const rng = new Rng(12);
  const encoded = SEEDS.map((f) => encodeMuxFrame(f));
  let frames = 0;
  let errors = 0;
  for (let round = 0; round < 20_000; round++) {
    let bytes: Buffer;
    if (rng.int(4) === 0) {
      bytes = Buffer.alloc(1 + rng.int(64));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    } else {
      bytes = Buffer.concat([encoded[rng.int(encoded.length)]!, encoded[rng.int(encoded.length)]!]);
      for (let n = rng.int(4); n >= 0; n--) bytes[rng.int(bytes.length)] = rng.int(256);
    }
    const d = new MuxDecoder();
    try {
      for (let off = 0; off < bytes.length;) {
        const step = 1 + rng.int(bytes.length - off);
        for (const f of d.push(Buffer.from(bytes.subarray(off, off + step)))) {
          frames++;
          // Whatever decodes is a frame the encoder would produce itself.
          assert.ok(encodeMuxFrame(f).length > 0);
        }
        assert.ok(d.buffered <= 4 + LIMITS.maxFrameBody);
        off += step;
      }
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(isTlsshError(e), `not a TlsshError: ${String(e)}`);
      assert.equal(categoryOf(e.code), 'protocol', e.code);
      errors++;
    }
  }
  assert.ok(frames > 1000 && errors > 1000, `${frames} frames, ${errors} errors`);
});
