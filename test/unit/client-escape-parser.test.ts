import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { EscapeParser, type EscapeEvent, escapeHelp, parseEscapeChar, showEscapeChar } from '../../src/client/escape-parser';
import { isTlsshError } from '../../src/errors';

const TILDE = 0x7e;

/** Feeds the chunks in order and flattens the result to strings and action names. */
function run(chunks: Array<string | Buffer>, escape = TILDE): Array<string> {
  const parser = new EscapeParser(escape);
  const events: EscapeEvent[] = [];
  for (const c of chunks) events.push(...parser.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
  // Adjacent data events are merged: how bytes are split into events is not part of the contract.
  const out: string[] = [];
  for (const e of events) {
    if (e.kind === 'action') out.push(`<${e.action}>`);
    else if (out.length > 0 && !out[out.length - 1]!.startsWith('<')) out[out.length - 1] += e.data.toString('latin1');
    else out.push(e.data.toString('latin1'));
  }
  return out;
}

describe('escape parser', () => {
  it('recognises ~. at the very start of input', () => {
    assert.deepEqual(run(['~.']), ['<disconnect>']);
  });

  it('recognises ~. after CR and after LF', () => {
    assert.deepEqual(run(['ls\r~.']), ['ls\r', '<disconnect>']);
    assert.deepEqual(run(['ls\n~.']), ['ls\n', '<disconnect>']);
  });

  it('passes ~ through untouched in the middle of a line', () => {
    assert.deepEqual(run(['cd ~.']), ['cd ~.']);
    assert.deepEqual(run(['a~?b']), ['a~?b']);
  });

  it('handles an escape split across chunk boundaries', () => {
    assert.deepEqual(run(['echo\r', '~', '.']), ['echo\r', '<disconnect>']);
    assert.deepEqual(run(['x\r~', '?', '~', '.']), ['x\r', '<help>', '<disconnect>']);
  });

  it('holds back a lone escape character at the end of a chunk', () => {
    const parser = new EscapeParser(TILDE);
    assert.deepEqual(parser.push(Buffer.from('\r~')), [{ kind: 'data', data: Buffer.from('\r') }]);
    assert.deepEqual(parser.push(Buffer.from('x')), [{ kind: 'data', data: Buffer.from('~x') }]);
  });

  it('sends one ~ for ~~ and then is mid-line', () => {
    assert.deepEqual(run(['~~']), ['~']);
    assert.deepEqual(run(['~~.']), ['~.']);
    assert.deepEqual(run(['~', '~', '~', '.']), ['~~.']);
  });

  it('sends both characters for an unrecognised escape', () => {
    assert.deepEqual(run(['~x']), ['~x']);
    assert.deepEqual(run(['\r~Q']), ['\r~Q']);
  });

  it('treats a newline after the escape as an ordinary pair that starts a new line', () => {
    assert.deepEqual(run(['~\r~.']), ['~\r', '<disconnect>']);
  });

  it('stays at line start after ~? so ~? ~. works without Enter', () => {
    assert.deepEqual(run(['~?~.']), ['<help>', '<disconnect>']);
  });

  it('recognises ~^Z as suspend', () => {
    assert.deepEqual(run(['\r~\x1a', 'ls']), ['\r', '<suspend>', 'ls']);
  });

  it('keeps data order around actions', () => {
    assert.deepEqual(run(['a\r~?b\r~.c']), ['a\r', '<help>', 'b\r', '<disconnect>', 'c']);
  });

  it('is binary safe for every byte value', () => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    // 0x7e (~) follows 0x7d, not a newline, so nothing in this buffer is an escape.
    const parser = new EscapeParser(TILDE);
    const got = Buffer.concat(parser.push(all).map((e) => (e.kind === 'data' ? e.data : Buffer.alloc(0))));
    assert.deepEqual(got, all);
  });

  it('uses another escape character when configured', () => {
    assert.deepEqual(run(['~.'], 0x1d), ['~.']);
    assert.deepEqual(run(['\x1d.'], 0x1d), ['<disconnect>']);
    assert.deepEqual(run(['\x1d\x1d'], 0x1d), ['\x1d']);
  });

  it('handles a byte-by-byte feed like a slow typist', () => {
    const input = 'echo hi\r~?~~x\r~.';
    assert.deepEqual(run(input.split('')), ['echo hi\r', '<help>', '~x\r', '<disconnect>']);
  });
});

describe('EscapeChar values', () => {
  it('parses one character, ^X and none', () => {
    assert.equal(parseEscapeChar('~'), TILDE);
    assert.equal(parseEscapeChar('^]'), 0x1d);
    assert.equal(parseEscapeChar('^a'), 0x01);
    assert.equal(parseEscapeChar('none'), null);
    assert.equal(parseEscapeChar('^'), 0x5e);
  });

  it('rejects longer values with a usage error', () => {
    for (const bad of ['ab', '', '^]x', 'é']) {
      assert.throws(() => parseEscapeChar(bad), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_USAGE', bad);
    }
  });

  it('shows control characters in caret notation in the help', () => {
    assert.equal(showEscapeChar(0x1d), '^]');
    assert.equal(showEscapeChar(TILDE), '~');
    assert.ok(escapeHelp(0x1d).some((line) => line.includes('^].')));
  });
});
