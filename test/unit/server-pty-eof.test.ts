// The bytes that end a PTY session's stdin: the terminal's VEOF, once at the start of a line,
// twice after a partial line in canonical mode (the first only hands the line over).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_MODES, eofBytes, parseSttyG } from '../../src/server/pty-eof';

// `stty -g` of a fresh Linux pty (stty sane): ICANON on, ICRNL on, VEOF ^D.
const SANE = '500:5:bf:8a3b:3:1c:7f:15:4:0:1:0:11:13:1a:0:12:f:17:16:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0';

describe('stty -g', () => {
  test('a sane terminal: ^D, canonical, CR and NL end lines', () => {
    const m = parseSttyG(`${SANE}\n`);
    assert.equal(m?.veof, 0x04);
    assert.equal(m?.canonical, true);
    assert.ok(m?.lineEnds.has(0x0a) && m.lineEnds.has(0x0d));
  });

  test('raw mode (no ICANON), a different EOF character, EOF switched off', () => {
    const f = SANE.split(':');
    f[3] = (0x8a3b & ~0o2).toString(16);
    assert.equal(parseSttyG(f.join(':'))?.canonical, false);
    f[4 + 4] = '1a';
    assert.equal(parseSttyG(f.join(':'))?.veof, 0x1a);
    f[4 + 4] = '0';
    assert.equal(parseSttyG(f.join(':'))?.veof, null);
  });

  test('anything else is not taken for modes', () => {
    for (const bad of ['', 'speed 38400 baud', '500:5:bf', `${SANE}:zz`]) assert.equal(parseSttyG(bad), undefined, bad);
  });
});

describe('eof bytes', () => {
  test('once at the start of a line or of input, twice after a partial line', () => {
    assert.deepEqual([...eofBytes(DEFAULT_MODES, undefined)], [4]);
    assert.deepEqual([...eofBytes(DEFAULT_MODES, 0x0a)], [4]);
    assert.deepEqual([...eofBytes(DEFAULT_MODES, 0x0d)], [4]);
    assert.deepEqual([...eofBytes(DEFAULT_MODES, 0x61)], [4, 4]);
  });

  test('once in non-canonical mode; nothing when EOF is switched off', () => {
    assert.deepEqual([...eofBytes({ ...DEFAULT_MODES, canonical: false }, 0x61)], [4]);
    assert.equal(eofBytes({ ...DEFAULT_MODES, veof: null }, 0x61).length, 0);
  });
});
