import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATA_HEADER, encodeDataHeader, encodeMessage, MessageDecoder } from '../../src/protocol/codec';
import { LIMITS, MSG, type Message } from '../../src/protocol/messages';
import { isTlsshError, type ErrorCode } from '../../src/errors';

/* Raw frame building, independent of the encoder, to craft what a hostile peer could send. */

const u8 = (n: number): Buffer => Buffer.from([n]);
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const str = (s: string | Buffer): Buffer => {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(bytes.length), bytes]);
};
const frame = (...body: Buffer[]): Buffer => {
  const b = Buffer.concat(body);
  return Buffer.concat([u32(b.length), b]);
};

function sessionRequestBody(o: {
  flags?: number;
  user?: string | Buffer;
  command?: string | Buffer;
  term?: string | Buffer;
  env?: Array<[string | Buffer, string | Buffer]>;
  envCount?: number;
}): Buffer {
  const env = o.env ?? [];
  return Buffer.concat([
    u8(MSG.sessionRequest),
    u8(o.flags ?? 1),
    str(o.user ?? ''),
    str(o.command ?? ''),
    str(o.term ?? 'xterm'),
    u16(80),
    u16(24),
    u16(o.envCount ?? env.length),
    ...env.flatMap(([k, v]) => [str(k), str(v)]),
  ]);
}

function decodeError(input: Buffer | Buffer[], opts?: { maxFrameBody?: number }): ErrorCode {
  const d = new MessageDecoder(opts);
  try {
    for (const chunk of Array.isArray(input) ? input : [input]) d.push(chunk);
    d.finish();
  } catch (e) {
    assert.ok(isTlsshError(e), `not a TlsshError: ${String(e)}`);
    return e.code;
  }
  assert.fail('decoding succeeded: ' + (Array.isArray(input) ? '' : input.toString('hex')));
}

function encodeError(m: unknown): ErrorCode {
  try {
    encodeMessage(m as Message);
  } catch (e) {
    assert.ok(isTlsshError(e), `not a TlsshError: ${String(e)}`);
    return e.code;
  }
  assert.fail('encoding succeeded: ' + JSON.stringify(m));
}

/**
 * Adjacent data messages of one stream joined: data is a byte stream, and the decoder passes a
 * data frame that spans chunks on in parts.
 */
function joinData(msgs: readonly Message[]): Message[] {
  const out: Message[] = [];
  for (const m of msgs) {
    const last = out[out.length - 1];
    if (m.type === 'data' && last?.type === 'data' && last.stream === m.stream) {
      out[out.length - 1] = { ...last, data: Buffer.concat([last.data, m.data]) };
    } else {
      out.push(m);
    }
  }
  return out;
}

function decodeAll(bytes: Buffer): Message[] {
  const d = new MessageDecoder();
  const out = d.push(bytes);
  d.finish();
  return out;
}

/** Deterministic PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const samples: Message[] = [
  { type: 'session-request', user: '', command: '', pty: true, term: 'xterm-256color', cols: 80, rows: 24, env: [] },
  {
    type: 'session-request',
    user: 'alice',
    command: "printf '%s\\n' \"$HOME\"; echo 'ünïcödé ✓ 🎉'\n\tls",
    pty: false,
    term: '',
    cols: 0,
    rows: 0,
    env: [
      ['LANG', 'C.UTF-8'],
      ['LC_ALL', ''],
      ['EMPTY_LINES', 'a\nb\r\n\u001b[31m'],
      ['ÜNÏ', '🎉'],
    ],
  },
  {
    type: 'session-request',
    user: 'x'.repeat(LIMITS.maxUser),
    command: 'c'.repeat(LIMITS.maxCommand),
    pty: true,
    term: 't'.repeat(LIMITS.maxTerm),
    cols: 0xffff,
    rows: 0xffff,
    env: [['N', 'v'.repeat(1000)]],
  },
  {
    type: 'session-request',
    user: '',
    command: '',
    pty: false,
    term: 'screen.xterm+256color',
    cols: 1,
    rows: 1,
    env: Array.from({ length: LIMITS.maxEnvEntries }, (_, i): [string, string] => [`V${i}`, String(i)]),
  },
  { type: 'session-started', user: 'alice', window: LIMITS.defaultWindow },
  { type: 'session-started', user: 'Jürgen', window: 0 },
  { type: 'session-started', user: '', window: 0xffffffff },
  { type: 'data', stream: 0, data: Buffer.from('ls -l\r') },
  { type: 'data', stream: 1, data: allBytes },
  { type: 'data', stream: 2, data: Buffer.alloc(0) },
  { type: 'data', stream: 1, data: Buffer.alloc(LIMITS.maxDataChunk, 0xa5) },
  { type: 'eof', stream: 0 },
  { type: 'eof', stream: 1 },
  { type: 'eof', stream: 2 },
  { type: 'window-adjust', stream: 0, bytes: 0 },
  { type: 'window-adjust', stream: 2, bytes: 0xffffffff },
  { type: 'window-change', cols: 0, rows: 0 },
  { type: 'window-change', cols: 65535, rows: 1 },
  { type: 'signal', name: 'INT' },
  { type: 'signal', name: 'RTMIN1' },
  { type: 'signal', name: 'A'.repeat(LIMITS.maxSignalName) },
  { type: 'exit-status', code: 0, signal: null, coreDumped: false },
  { type: 'exit-status', code: 255, signal: null, coreDumped: false },
  { type: 'exit-status', code: null, signal: 'KILL', coreDumped: false },
  { type: 'exit-status', code: null, signal: 'SEGV', coreDumped: true },
  { type: 'ping', cookie: 0 },
  { type: 'ping', cookie: 0xffffffff },
  { type: 'pong', cookie: 1 },
  { type: 'error', code: 'TLSSH_ERR_ROOT_LOGIN_REFUSED', message: 'root login refused' },
  { type: 'error', code: 'TLSSH_ERR_SOMETHING_NEWER_2', message: '' },
  { type: 'error', code: 'TLSSH_ERR_X', message: 'é'.repeat(LIMITS.maxErrorMessage / 2) },
];

test('round trip of every message type', () => {
  const seen = new Set<string>();
  for (const m of samples) {
    seen.add(m.type);
    const bytes = encodeMessage(m);
    assert.equal(bytes.readUInt32BE(0), bytes.length - 4);
    assert.deepEqual(decodeAll(bytes), [m], m.type);
  }
  assert.equal(seen.size, Object.keys(MSG).length);
});

test('the type byte of each message is the one in MSG', () => {
  const byName: Record<Message['type'], number> = {
    'session-request': MSG.sessionRequest,
    'session-started': MSG.sessionStarted,
    data: MSG.data,
    eof: MSG.eof,
    'window-adjust': MSG.windowAdjust,
    'window-change': MSG.windowChange,
    signal: MSG.signal,
    'exit-status': MSG.exitStatus,
    ping: MSG.ping,
    pong: MSG.pong,
    error: MSG.error,
  };
  for (const m of samples) assert.equal(encodeMessage(m)[4], byName[m.type], m.type);
});

test('all 256 byte values survive in data, on every stream', () => {
  for (const stream of [0, 1, 2] as const) {
    const [m] = decodeAll(encodeMessage({ type: 'data', stream, data: allBytes }));
    assert.ok(m !== undefined && m.type === 'data');
    assert.equal(m.stream, stream);
    assert.ok(Buffer.isBuffer(m.data));
    assert.equal(m.data.compare(allBytes), 0);
  }
});

test('byte-at-a-time feeding yields the same messages, and buffered counts held bytes', () => {
  const stream = Buffer.concat(samples.map(encodeMessage));
  const d = new MessageDecoder();
  const got: Message[] = [];
  let sinceLast = 0;
  for (let i = 0; i < stream.length; i++) {
    const out = d.push(stream.subarray(i, i + 1));
    sinceLast = out.length > 0 ? 0 : sinceLast + 1;
    assert.equal(d.buffered, sinceLast);
    got.push(...out);
  }
  d.finish();
  assert.deepEqual(got, samples);
});

test('many frames in one chunk', () => {
  const msgs: Message[] = [];
  for (let i = 0; i < 5000; i++) {
    msgs.push(
      i % 3 === 0
        ? { type: 'data', stream: 1, data: Buffer.from(`line ${i}\n`) }
        : i % 3 === 1
          ? { type: 'window-adjust', stream: 0, bytes: i }
          : { type: 'ping', cookie: i },
    );
  }
  assert.deepEqual(decodeAll(Buffer.concat(msgs.map(encodeMessage))), msgs);
});

test('random chunk boundaries give the same messages', () => {
  const rnd = prng(1);
  const stream = Buffer.concat([...samples, ...samples].map(encodeMessage));
  for (let round = 0; round < 50; round++) {
    const d = new MessageDecoder();
    const got: Message[] = [];
    for (let off = 0; off < stream.length; ) {
      const n = 1 + Math.floor(rnd() * (round % 2 === 0 ? 16 : 70000));
      got.push(...d.push(stream.subarray(off, off + n)));
      off += n;
    }
    d.finish();
    assert.deepEqual(joinData(got), joinData([...samples, ...samples]));
  }
});

test('data from split frames does not change when later input arrives', () => {
  const rnd = prng(7);
  const payloads = Array.from({ length: 40 }, (_, i) => {
    const b = Buffer.alloc(1 + Math.floor(rnd() * 9000));
    for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j) & 0xff;
    return b;
  });
  const stream = Buffer.concat(payloads.map((data) => encodeMessage({ type: 'data', stream: 1, data })));
  const d = new MessageDecoder();
  const got: Buffer[] = [];
  // Odd chunk sizes make almost every frame span chunks, so its body is assembled by the decoder.
  for (let off = 0; off < stream.length; off += 777) {
    for (const m of d.push(Buffer.from(stream.subarray(off, off + 777)))) {
      assert.equal(m.type, 'data');
      if (m.type === 'data') got.push(m.data);
    }
  }
  d.finish();
  assert.equal(Buffer.concat(got).compare(Buffer.concat(payloads)), 0);
});

test('a data frame that spans chunks is passed on as views of the chunks, never copied', () => {
  const data = Buffer.alloc(32 * 1024, 0x61);
  const bytes = Buffer.concat([encodeMessage({ type: 'data', stream: 1, data }), encodeMessage({ type: 'eof', stream: 1 })]);
  // As TLS delivers it: records of at most 16 KiB, each its own chunk.
  const chunks = [0, 16384, 32768].map((o) => Buffer.from(bytes.subarray(o, o + 16384)));
  const d = new MessageDecoder();
  const got = chunks.flatMap((c) => d.push(c).map((m) => ({ m, c })));
  d.finish();
  const parts = got.filter(({ m }) => m.type === 'data');
  assert.equal(parts.length, 3);
  for (const { m, c } of parts) {
    assert.ok(m.type === 'data' && m.data.buffer === c.buffer, 'a data part is not a view of its chunk');
  }
  assert.deepEqual(joinData(got.map(({ m }) => m)), [{ type: 'data', stream: 1, data }, { type: 'eof', stream: 1 }]);
  assert.equal(d.buffered, 0);
});

test('a data frame cut off in its parts is FRAME_TRUNCATED; a bad stream or length fails before any part', () => {
  const bytes = encodeMessage({ type: 'data', stream: 2, data: Buffer.alloc(1000, 1) });
  const d = new MessageDecoder();
  assert.equal(d.push(bytes.subarray(0, 500)).length, 1);
  assert.equal(d.buffered, 500);
  assert.throws(() => d.finish(), { code: 'TLSSH_ERR_FRAME_TRUNCATED' });
  const badStream = Buffer.from(bytes);
  badStream[5] = 9;
  assert.equal(decodeError(badStream.subarray(0, 100)), 'TLSSH_ERR_FRAME_MALFORMED');
  const tooLong = frame(u8(MSG.data), u8(1), Buffer.alloc(LIMITS.maxDataChunk + 1));
  assert.equal(decodeError(tooLong.subarray(0, 100)), 'TLSSH_ERR_FRAME_MALFORMED');
});

test('a clean stream end passes finish(); one inside a frame is FRAME_TRUNCATED', () => {
  const bytes = encodeMessage({ type: 'signal', name: 'TERM' });
  for (let cut = 1; cut < bytes.length; cut++) {
    const d = new MessageDecoder();
    assert.deepEqual(d.push(bytes.subarray(0, cut)), []);
    assert.equal(d.buffered, cut);
    assert.throws(() => d.finish(), { code: 'TLSSH_ERR_FRAME_TRUNCATED' });
  }
  const d = new MessageDecoder();
  d.finish();
  d.push(bytes);
  d.finish();
  d.push(Buffer.alloc(0));
  d.finish();
});

test('an oversized length is refused from the header alone', () => {
  for (const len of [LIMITS.maxFrameBody + 1, 0x7fffffff, 0xffffffff]) {
    const d = new MessageDecoder();
    assert.throws(() => d.push(u32(len)), { code: 'TLSSH_ERR_FRAME_TOO_LARGE' });
    assert.equal(d.buffered, 0);
    // The header split across chunks is caught as soon as its fourth byte arrives.
    const split = new MessageDecoder();
    const h = u32(len);
    for (let i = 0; i < 3; i++) assert.deepEqual(split.push(h.subarray(i, i + 1)), []);
    assert.throws(() => split.push(h.subarray(3)), { code: 'TLSSH_ERR_FRAME_TOO_LARGE' });
  }
  // Exactly at the limit is accepted as a length (and then judged by its content).
  const body = Buffer.concat([u8(MSG.data), u8(1), Buffer.alloc(LIMITS.maxFrameBody - 2)]);
  assert.equal(body.length, LIMITS.maxFrameBody);
  assert.equal(decodeError(frame(body)), 'TLSSH_ERR_FRAME_MALFORMED'); // data over maxDataChunk
});

test('maxFrameBody option lowers the frame limit', () => {
  const bytes = encodeMessage({ type: 'data', stream: 1, data: Buffer.alloc(100) });
  assert.equal(decodeError(bytes, { maxFrameBody: 101 }), 'TLSSH_ERR_FRAME_TOO_LARGE');
  const d = new MessageDecoder({ maxFrameBody: 102 });
  assert.equal(d.push(bytes).length, 1);
  for (const bad of [0, -1, 1.5, 2 ** 32]) {
    assert.throws(() => new MessageDecoder({ maxFrameBody: bad }), { code: 'TLSSH_ERR_INTERNAL' });
  }
});

test('every type byte outside MSG is FRAME_UNKNOWN_TYPE', () => {
  const known = new Set<number>(Object.values(MSG));
  let unknown = 0;
  for (let t = 0; t < 256; t++) {
    if (known.has(t)) continue;
    unknown++;
    assert.equal(decodeError(frame(u8(t), Buffer.alloc(8))), 'TLSSH_ERR_FRAME_UNKNOWN_TYPE', `type ${t}`);
  }
  assert.equal(unknown, 256 - known.size);
});

test('an empty body is FRAME_MALFORMED', () => {
  assert.equal(decodeError(u32(0)), 'TLSSH_ERR_FRAME_MALFORMED');
});

test('every fixed-layout message cut short or with a byte extra is FRAME_MALFORMED', () => {
  for (const m of samples) {
    if (m.type === 'data') continue; // its payload is "the rest", any length is well-formed
    const body = encodeMessage(m).subarray(4);
    for (let len = 1; len < body.length; len++) {
      assert.equal(decodeError(frame(body.subarray(0, len))), 'TLSSH_ERR_FRAME_MALFORMED', `${m.type} cut to ${len}`);
    }
    assert.equal(decodeError(frame(body, u8(0))), 'TLSSH_ERR_FRAME_MALFORMED', `${m.type} plus a byte`);
  }
  assert.equal(decodeError(frame(u8(MSG.data))), 'TLSSH_ERR_FRAME_MALFORMED', 'data without a stream');
});

test('bad enumerations and reserved bits are FRAME_MALFORMED', () => {
  const cases: Array<[string, Buffer]> = [
    ['data stream 3', frame(u8(MSG.data), u8(3), Buffer.from('x'))],
    ['data stream 255', frame(u8(MSG.data), u8(255))],
    ['eof stream 3', frame(u8(MSG.eof), u8(3))],
    ['window-adjust stream 9', frame(u8(MSG.windowAdjust), u8(9), u32(1))],
    ['exit-status kind 2', frame(u8(MSG.exitStatus), u8(2), u8(0))],
    ['exit-status flag bit 1', frame(u8(MSG.exitStatus), u8(1), u8(2), str('TERM'))],
    ['exit-status flags 0x80', frame(u8(MSG.exitStatus), u8(1), u8(0x80), str('TERM'))],
    ['session-request flag 0x02', frame(sessionRequestBody({ flags: 2 }))],
    ['session-request flags 0xff', frame(sessionRequestBody({ flags: 0xff }))],
  ];
  for (const [why, bytes] of cases) assert.equal(decodeError(bytes), 'TLSSH_ERR_FRAME_MALFORMED', why);
});

test('strings that break their rules are FRAME_MALFORMED on decode', () => {
  const started = (user: string | Buffer): Buffer => frame(u8(MSG.sessionStarted), str(user), u32(1));
  const signal = (name: string | Buffer): Buffer => frame(u8(MSG.signal), str(name));
  const error = (code: string | Buffer, message: string | Buffer): Buffer =>
    frame(u8(MSG.error), str(code), str(message));
  const exitSignal = (name: string): Buffer => frame(u8(MSG.exitStatus), u8(1), u8(0), str(name));
  const request = (o: Parameters<typeof sessionRequestBody>[0]): Buffer => frame(sessionRequestBody(o));
  const cases: Array<[string, Buffer]> = [
    ['invalid UTF-8', started(Buffer.from([0xc3, 0x28]))],
    ['lone continuation byte', started(Buffer.from([0x80]))],
    ['overlong slash', started(Buffer.from([0xc0, 0xaf]))],
    ['UTF-8 surrogate', started(Buffer.from([0xed, 0xa0, 0x80]))],
    ['above U+10FFFF', started(Buffer.from([0xf4, 0x90, 0x80, 0x80]))],
    ['truncated sequence', started(Buffer.from([0xe2, 0x82]))],
    ['NUL in user', started('ali\u0000ce')],
    ['newline in user', started('alice\nroot')],
    ['escape in user', started('\u001b[2J')],
    ['C1 control in user', started('a\u009bb')],
    ['user over limit', started('u'.repeat(LIMITS.maxUser + 1))],
    ['string length past the body', frame(u8(MSG.sessionStarted), u32(100), Buffer.from('abc'), u32(1))],
    ['string length 4 GiB', frame(u8(MSG.signal), u32(0xffffffff), Buffer.from('INT'))],
    ['signal lower case', signal('int')],
    ['signal with SIG prefix and dash', signal('SIG-INT')],
    ['signal empty', signal('')],
    ['signal too long', signal('A'.repeat(LIMITS.maxSignalName + 1))],
    ['signal with NUL', signal('INT\u0000')],
    ['exit signal lower case', exitSignal('term')],
    ['exit signal empty', exitSignal('')],
    ['error code without prefix', error('FOO', 'x')],
    ['error code lower case', error('TLSSH_ERR_foo', 'x')],
    ['error code bare prefix', error('TLSSH_ERR_', 'x')],
    ['error code too long', error('TLSSH_ERR_' + 'A'.repeat(LIMITS.maxErrorCode), 'x')],
    ['error message with newline', error('TLSSH_ERR_X', 'a\nb')],
    ['error message with escape', error('TLSSH_ERR_X', '\u001b]0;pwned\u0007')],
    ['error message with DEL', error('TLSSH_ERR_X', 'a\u007f')],
    ['error message too long', error('TLSSH_ERR_X', 'm'.repeat(LIMITS.maxErrorMessage + 1))],
    ['error message invalid UTF-8', error('TLSSH_ERR_X', Buffer.from([0xff]))],
    ['command with NUL', request({ command: 'ls\u0000-l' })],
    ['command too long', request({ command: 'c'.repeat(LIMITS.maxCommand + 1) })],
    ['term with slash', request({ term: '../../etc/passwd' })],
    ['term with space', request({ term: 'xterm 256' })],
    ['term with NUL', request({ term: 'xterm\u0000' })],
    ['term too long', request({ term: 't'.repeat(LIMITS.maxTerm + 1) })],
    ['user with NUL', request({ user: 'root\u0000' })],
    ['env name empty', request({ env: [['', 'v']] })],
    ['env name with =', request({ env: [['A=B', 'v']] })],
    ['env name with NUL', request({ env: [['A\u0000', 'v']] })],
    ['env name with newline', request({ env: [['A\nB', 'v']] })],
    ['env value with NUL', request({ env: [['A', 'v\u0000w']] })],
    ['env value invalid UTF-8', request({ env: [['A', Buffer.from([0xfe])]] })],
    ['env value too long', request({ env: [['A', 'v'.repeat(LIMITS.maxStringField + 1)]] })],
    ['env count larger than entries', request({ env: [['A', 'v']], envCount: 2 })],
    ['env count over limit', request({ envCount: LIMITS.maxEnvEntries + 1 })],
    ['env count 65535', request({ envCount: 0xffff })],
  ];
  for (const [why, bytes] of cases) assert.equal(decodeError(bytes), 'TLSSH_ERR_FRAME_MALFORMED', why);
});

test('data over maxDataChunk inside an acceptable frame is FRAME_MALFORMED', () => {
  const bytes = frame(u8(MSG.data), u8(1), Buffer.alloc(LIMITS.maxDataChunk + 1));
  assert.equal(decodeError(bytes), 'TLSSH_ERR_FRAME_MALFORMED');
});

test('the decoder stays failed after an error', () => {
  const good = encodeMessage({ type: 'ping', cookie: 1 });
  const d = new MessageDecoder();
  assert.equal(d.push(good).length, 1);
  let first: unknown;
  try {
    d.push(frame(u8(0x7f)));
  } catch (e) {
    first = e;
  }
  assert.ok(isTlsshError(first));
  assert.equal(first.code, 'TLSSH_ERR_FRAME_UNKNOWN_TYPE');
  assert.throws(() => d.push(good), (e: unknown) => e === first);
  assert.throws(() => d.push(Buffer.alloc(0)), (e: unknown) => e === first);
  assert.throws(() => d.finish(), (e: unknown) => e === first);

  const t = new MessageDecoder();
  t.push(good.subarray(0, 3));
  assert.throws(() => t.finish(), { code: 'TLSSH_ERR_FRAME_TRUNCATED' });
  assert.throws(() => t.push(good.subarray(3)), { code: 'TLSSH_ERR_FRAME_TRUNCATED' });
});

test('an error in a later frame of a chunk fails the whole push', () => {
  const bytes = Buffer.concat([encodeMessage({ type: 'ping', cookie: 1 }), frame(u8(MSG.eof), u8(7))]);
  assert.equal(decodeError(bytes), 'TLSSH_ERR_FRAME_MALFORMED');
});

test('garbage input only ever fails with a frame error code', () => {
  const rnd = prng(42);
  const frameCodes = new Set<string>([
    'TLSSH_ERR_FRAME_TRUNCATED',
    'TLSSH_ERR_FRAME_TOO_LARGE',
    'TLSSH_ERR_FRAME_UNKNOWN_TYPE',
    'TLSSH_ERR_FRAME_MALFORMED',
  ]);
  const seen = new Set<string>();
  for (let round = 0; round < 3000; round++) {
    const junk = Buffer.alloc(1 + Math.floor(rnd() * 200));
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
    // Small plausible lengths make the junk reach the body decoders, not just the size check.
    if (round % 2 === 0 && junk.length > 5) junk.writeUInt32BE(junk.length - 4 - (round % 3), 0);
    const d = new MessageDecoder();
    try {
      d.push(junk);
      d.finish();
    } catch (e) {
      assert.ok(isTlsshError(e), `unexpected ${String(e)} for ${junk.toString('hex')}`);
      assert.ok(frameCodes.has(e.code), e.code);
      seen.add(e.code);
    }
  }
  assert.deepEqual([...seen].sort(), [...frameCodes].sort());
});

test('mutated frames are either refused or decode to a message that encodes back to the same bytes', () => {
  const rnd = prng(9);
  let accepted = 0;
  let refused = 0;
  for (let round = 0; round < 20000; round++) {
    const original = encodeMessage(samples[round % samples.length] as Message);
    if (original.length > 2000) continue;
    const bytes = Buffer.from(original);
    const flips = 1 + Math.floor(rnd() * 3);
    for (let i = 0; i < flips; i++) bytes[4 + Math.floor(rnd() * (bytes.length - 4))] = Math.floor(rnd() * 256);
    const d = new MessageDecoder();
    let msgs: Message[];
    try {
      msgs = d.push(bytes);
      d.finish();
    } catch (e) {
      assert.ok(isTlsshError(e), String(e));
      refused++;
      continue;
    }
    accepted++;
    // The encoding is canonical: anything accepted re-encodes to exactly what was received.
    assert.equal(Buffer.concat(msgs.map(encodeMessage)).toString('hex'), bytes.toString('hex'));
  }
  assert.ok(accepted > 100 && refused > 100, `accepted ${accepted}, refused ${refused}`);
});

test('the encoder refuses values the decoder would refuse', () => {
  const request = {
    type: 'session-request',
    user: '',
    command: '',
    pty: true,
    term: 'xterm',
    cols: 80,
    rows: 24,
    env: [] as unknown[],
  };
  const malformed: Array<[string, unknown]> = [
    ['cols 65536', { ...request, cols: 65536 }],
    ['rows -1', { ...request, rows: -1 }],
    ['cols 1.5', { ...request, cols: 1.5 }],
    ['cols NaN', { ...request, cols: NaN }],
    ['cols as string', { ...request, cols: '80' }],
    ['pty not boolean', { ...request, pty: 1 }],
    ['term with slash', { ...request, term: 'a/b' }],
    ['user with newline', { ...request, user: 'a\nb' }],
    ['user lone surrogate', { ...request, user: 'a\ud800' }],
    ['command with NUL', { ...request, command: 'a\u0000' }],
    ['env not array', { ...request, env: {} }],
    ['env entry not a pair', { ...request, env: [['A']] }],
    ['env name with =', { ...request, env: [['A=B', 'x']] }],
    ['env name empty', { ...request, env: [['', 'x']] }],
    ['env value not a string', { ...request, env: [['A', 1]] }],
    ['session-started window -1', { type: 'session-started', user: 'a', window: -1 }],
    ['session-started window 2^32', { type: 'session-started', user: 'a', window: 2 ** 32 }],
    ['data stream 3', { type: 'data', stream: 3, data: Buffer.alloc(1) }],
    ['data not a buffer', { type: 'data', stream: 1, data: 'text' }],
    ['eof stream -1', { type: 'eof', stream: -1 }],
    ['window-adjust bytes 2^32', { type: 'window-adjust', stream: 0, bytes: 2 ** 32 }],
    ['window-change cols 70000', { type: 'window-change', cols: 70000, rows: 1 }],
    ['signal lower case', { type: 'signal', name: 'int' }],
    ['signal empty', { type: 'signal', name: '' }],
    ['exit code 256', { type: 'exit-status', code: 256, signal: null, coreDumped: false }],
    ['exit code -1', { type: 'exit-status', code: -1, signal: null, coreDumped: false }],
    ['exit with neither', { type: 'exit-status', code: null, signal: null, coreDumped: false }],
    ['exit with both', { type: 'exit-status', code: 1, signal: 'TERM', coreDumped: false }],
    ['core dump with a code', { type: 'exit-status', code: 1, signal: null, coreDumped: true }],
    ['exit signal with SIG prefix', { type: 'exit-status', code: null, signal: 'SIG-TERM', coreDumped: false }],
    ['ping cookie 2^32', { type: 'ping', cookie: 2 ** 32 }],
    ['pong cookie negative', { type: 'pong', cookie: -5 }],
    ['error code not TLSSH_ERR_', { type: 'error', code: 'EPERM', message: '' }],
    ['error message with newline', { type: 'error', code: 'TLSSH_ERR_X', message: 'a\nb' }],
  ];
  for (const [why, m] of malformed) assert.equal(encodeError(m), 'TLSSH_ERR_FRAME_MALFORMED', why);

  const tooLarge: Array<[string, unknown]> = [
    ['data over maxDataChunk', { type: 'data', stream: 1, data: Buffer.alloc(LIMITS.maxDataChunk + 1) }],
    ['user over limit', { ...request, user: 'u'.repeat(LIMITS.maxUser + 1) }],
    ['multi-byte user over limit in bytes', { ...request, user: 'ü'.repeat(LIMITS.maxUser / 2 + 1) }],
    ['command over limit', { ...request, command: 'c'.repeat(LIMITS.maxCommand + 1) }],
    ['term over limit', { ...request, term: 't'.repeat(LIMITS.maxTerm + 1) }],
    ['too many env entries', { ...request, env: Array.from({ length: LIMITS.maxEnvEntries + 1 }, () => ['A', 'b']) }],
    ['env value over limit', { ...request, env: [['A', 'v'.repeat(LIMITS.maxStringField + 1)]] }],
    [
      'session-request frame over maxFrameBody',
      { ...request, env: Array.from({ length: 9 }, (_, i) => [`V${i}`, 'v'.repeat(LIMITS.maxStringField)]) },
    ],
    ['signal name over limit', { type: 'signal', name: 'A'.repeat(LIMITS.maxSignalName + 1) }],
    ['error message over limit', { type: 'error', code: 'TLSSH_ERR_X', message: 'm'.repeat(LIMITS.maxErrorMessage + 1) }],
  ];
  for (const [why, m] of tooLarge) assert.equal(encodeError(m), 'TLSSH_ERR_FRAME_TOO_LARGE', why);

  assert.equal(encodeError({ type: 'hello' }), 'TLSSH_ERR_FRAME_UNKNOWN_TYPE');
});

test('a Uint8Array is accepted as data and decoded as a Buffer', () => {
  const [m] = decodeAll(encodeMessage({ type: 'data', stream: 0, data: new Uint8Array([1, 2, 3]) as Buffer }));
  assert.ok(m !== undefined && m.type === 'data');
  assert.ok(Buffer.isBuffer(m.data));
  assert.deepEqual([...m.data], [1, 2, 3]);
});

test('session-request subsystem: flag bit 1 only when set, and the name must be a subsystem name', () => {
  const base: Message = { type: 'session-request', user: '', command: 'sftp', pty: false, term: '', cols: 0, rows: 0, env: [] };
  assert.equal(encodeMessage({ ...base, subsystem: true })[5], 0x02);
  assert.equal(encodeMessage({ ...base, subsystem: false })[5], 0x00);
  assert.equal(encodeMessage(base)[5], 0x00);
  // Decoded without the key when the bit is clear, so older peers' requests look as before.
  assert.deepEqual(decodeAll(encodeMessage({ ...base, subsystem: false })), [base]);
  assert.deepEqual(decodeAll(encodeMessage({ ...base, pty: true, subsystem: true })), [{ ...base, pty: true, subsystem: true }]);
  for (const command of ['', 'sftp server', '/usr/lib/openssh/sftp-server', '-x', 'x'.repeat(65)]) {
    assert.equal(encodeError({ ...base, command, subsystem: true }), 'TLSSH_ERR_FRAME_MALFORMED', command);
  }
});

test('a data header followed by its data is the data frame, byte for byte, on every stream', () => {
  for (const stream of [0, 1, 2] as const) {
    for (const n of [0, 1, 4095, 16378, LIMITS.maxDataChunk]) {
      const data = Buffer.alloc(n, 0x5a);
      const joined = Buffer.concat([encodeDataHeader(stream, n), data]);
      assert.equal(encodeDataHeader(stream, n).length, DATA_HEADER);
      assert.deepEqual(joined, encodeMessage({ type: 'data', stream, data }));
      assert.deepEqual(new MessageDecoder().push(joined), [{ type: 'data', stream, data }]);
    }
  }
});

test('a data header refuses what the encoder refuses: a length over maxDataChunk, an unknown stream', () => {
  assert.throws(() => encodeDataHeader(1, LIMITS.maxDataChunk + 1), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_TOO_LARGE');
  assert.throws(() => encodeDataHeader(1, -1), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_TOO_LARGE');
  assert.throws(() => encodeDataHeader(3 as 0, 10), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_MALFORMED');
});

test('terminal modes: 128 decode, a complete request with 129 is malformed for its count', () => {
  const modes: Array<[number, number]> = Array.from({ length: LIMITS.maxTtyModes }, (_, i) => [1 + (i % 18), i]);
  const request: Message = { type: 'session-request', user: '', command: '', pty: true, term: 'xterm', cols: 80, rows: 24, env: [], modes };
  const full = encodeMessage(request);
  assert.deepEqual(new MessageDecoder().push(full), [request]);
  // One more mode, with its bytes: the count alone must refuse it, not the data running out.
  const countAt = full.length - modes.length * 5 - 2;
  const body = Buffer.concat([full.subarray(4), Buffer.from([1, 0, 0, 0, 0])]);
  body.writeUInt16BE(LIMITS.maxTtyModes + 1, countAt - 4);
  const frame = Buffer.concat([Buffer.alloc(4), body]);
  frame.writeUInt32BE(body.length, 0);
  assert.throws(() => new MessageDecoder().push(frame), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_MALFORMED' && /129 terminal modes, over 128/.test(e.message));
});

test('environment: 256 entries decode, a complete request with 257 is malformed for its count', () => {
  const env = Array.from({ length: LIMITS.maxEnvEntries }, (_, i): [string, string] => [`V${i}`, String(i)]);
  const request: Message = { type: 'session-request', user: '', command: '', pty: false, term: '', cols: 0, rows: 0, env };
  const full = encodeMessage(request);
  assert.deepEqual(new MessageDecoder().push(full), [request]);
  // One more entry, with its bytes: the count alone must refuse it, not the data running out.
  const str = (s: string): Buffer => Buffer.concat([Buffer.from([0, 0, 0, s.length]), Buffer.from(s)]);
  const entriesLength = env.reduce((n, [k, v]) => n + 8 + k.length + v.length, 0);
  const countAt = full.length - entriesLength - 2;
  const extra = Buffer.concat([str('V256'), str('256')]);
  const frame = Buffer.concat([full, extra]);
  frame.writeUInt16BE(LIMITS.maxEnvEntries + 1, countAt);
  frame.writeUInt32BE(frame.length - 4, 0);
  assert.throws(() => new MessageDecoder().push(frame), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_FRAME_MALFORMED' && /257 environment entries, over 256/.test(e.message));
});
