// The local protocol between a shared-session client and its master (doc/MUX.md): frames split
// at any byte, bounded lengths checked before buffering, and every hostile payload refused with
// TLSSH_ERR_CONTROL_PROTOCOL.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  MAX_MUX_PAYLOAD, MUX, MuxDecoder, encodeFrame, encodeJson, encodeWindow, parseExit, parseHello, parseReply, parseSignal, parseWindow,
} from '../../src/client/mux-frames';

const protocolError = (e: unknown): boolean => (e as { code?: string }).code === 'TLSSH_ERR_CONTROL_PROTOCOL';

const HELLO = {
  v: 1, op: 'session',
  session: { command: 'ls -l', subsystem: false, pty: true, term: 'xterm', cols: 80, rows: 24, env: [['LANG', 'C']] },
};

describe('mux frames', () => {
  it('encodes type, a big-endian length and the payload (the vector in doc/MUX.md)', () => {
    assert.equal(encodeFrame(MUX.stdin, Buffer.from('hi')).toString('hex'), '02000000026869');
    assert.equal(encodeFrame(MUX.stdinEof).toString('hex'), '0300000000');
    assert.equal(encodeWindow(80, 24).toString('hex'), '04000000040050' + '0018');
    assert.equal(encodeFrame(MUX.signal, 'INT').toString('hex'), '0500000003494e54');
  });

  it('decodes frames split at every byte boundary', () => {
    const bytes = Buffer.concat([encodeJson(MUX.hello, HELLO), encodeFrame(MUX.stdin, Buffer.from('abc')), encodeFrame(MUX.stdinEof)]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new MuxDecoder();
      const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.deepEqual(frames.map((f) => f.type), [MUX.hello, MUX.stdin, MUX.stdinEof], `cut at ${cut}`);
      assert.deepEqual(parseHello(frames[0]!.payload), HELLO);
      assert.equal(frames[1]!.payload.toString(), 'abc');
      assert.equal(d.pending, 0);
    }
  });

  it('refuses an oversized length from its header alone, and unknown types', () => {
    const d = new MuxDecoder();
    const head = Buffer.from([MUX.stdin, 0, 0, 0, 0]);
    head.writeUInt32BE(MAX_MUX_PAYLOAD + 1, 1);
    assert.throws(() => d.push(head), protocolError);
    assert.throws(() => new MuxDecoder().push(Buffer.from([0x7f, 0, 0, 0, 0])), protocolError);
    assert.throws(() => encodeFrame(MUX.stdout, Buffer.alloc(MAX_MUX_PAYLOAD + 1)), protocolError);
    assert.equal(new MuxDecoder().push(encodeFrame(MUX.stdout, Buffer.alloc(MAX_MUX_PAYLOAD))).length, 1);
  });

  it('refuses malformed hellos', () => {
    const bad: unknown[] = [
      'not json', [], null, { ...HELLO, v: 2 }, { ...HELLO, op: 'shell' }, { v: 1, op: 'session' },
      { ...HELLO, session: { ...HELLO.session, cols: -1 } },
      { ...HELLO, session: { ...HELLO.session, cols: 70000 } },
      { ...HELLO, session: { ...HELLO.session, pty: 'yes' } },
      { ...HELLO, session: { ...HELLO.session, env: [['A']] } },
      { ...HELLO, session: { ...HELLO.session, env: Array.from({ length: 300 }, () => ['A', 'b']) } },
      { ...HELLO, session: { ...HELLO.session, term: 'x'.repeat(300) } },
      { ...HELLO, own: 'not-hex' }, { ...HELLO, own: 'ab'.repeat(17) }, { ...HELLO, own: 7 },
      { ...HELLO, session: { ...HELLO.session, modes: [[0, 1]] } },
      { ...HELLO, session: { ...HELLO.session, modes: [[160, 1]] } },
      { ...HELLO, session: { ...HELLO.session, modes: [[3, -1]] } },
      { ...HELLO, session: { ...HELLO.session, modes: [[3, 2 ** 32]] } },
      { ...HELLO, session: { ...HELLO.session, modes: [[3]] } },
      { ...HELLO, session: { ...HELLO.session, modes: Array.from({ length: 129 }, () => [3, 8]) } },
      { ...HELLO, session: { ...HELLO.session, modes: 'erase ^H' } },
    ];
    for (const b of bad) {
      const payload = Buffer.from(typeof b === 'string' ? b : JSON.stringify(b));
      assert.throws(() => parseHello(payload), protocolError, JSON.stringify(b).slice(0, 80));
    }
    assert.deepEqual(parseHello(Buffer.from('{"v":1,"op":"check"}')), { v: 1, op: 'check' });
    // The starting client's token (ControlMaster ask leaves its own session alone).
    const own = 'a1'.repeat(16);
    assert.deepEqual(parseHello(Buffer.from(JSON.stringify({ ...HELLO, own }))), { ...HELLO, own });
    // The terminal's modes, passed on as they came.
    const withModes = { ...HELLO, session: { ...HELLO.session, modes: [[3, 8], [42, 1], [159, 0xffffffff]] } };
    assert.deepEqual(parseHello(Buffer.from(JSON.stringify(withModes))), withModes);
  });

  it('checks replies, exit statuses, windows and signals', () => {
    assert.deepEqual(parseReply(Buffer.from('{"ok":true,"pid":5}')), { ok: true, pid: 5 });
    assert.throws(() => parseReply(Buffer.from('{"ok":"yes"}')), protocolError);
    assert.deepEqual(parseExit(Buffer.from('{"code":3,"signal":null}')), { code: 3, signal: null });
    assert.deepEqual(parseExit(Buffer.from('{"code":null,"signal":"TERM"}')), { code: null, signal: 'TERM' });
    for (const e of ['{"code":3,"signal":"TERM"}', '{"code":null,"signal":null}', '{"code":256,"signal":null}', '{"code":null,"signal":"\\u001b[2J"}']) {
      assert.throws(() => parseExit(Buffer.from(e)), protocolError, e);
    }
    assert.deepEqual(parseWindow(Buffer.from('00500018', 'hex')), { cols: 80, rows: 24 });
    assert.throws(() => parseWindow(Buffer.from('0050', 'hex')), protocolError);
    assert.equal(parseSignal(Buffer.from('INT')), 'INT');
    for (const s of ['SEGV', 'int', '', 'INT\n']) assert.throws(() => parseSignal(Buffer.from(s)), protocolError, s);
  });
});
