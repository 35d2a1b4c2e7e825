// Terminal modes between stty(1) text, RFC 4254 opcodes and stty arguments (src/protocol/tty-modes.ts),
// and which protocol may carry them (src/protocol/alpn.ts).

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { negotiated, requestFor } from '../../src/protocol/alpn';
import type { SessionRequest } from '../../src/protocol/messages';
import { TTY_DISABLED, modesFromSttyAll, sttyArgsFor } from '../../src/protocol/tty-modes';

// GNU stty -a on Linux, after `stty erase ^H intr ^G -ixon iutf8`.
const STTY_A = `speed 38400 baud; rows 24; columns 80; line = 0;
intr = ^G; quit = ^\\; erase = ^H; kill = ^U; eof = ^D; eol = <undef>; eol2 = M-^?; swtch = <undef>; start = ^Q;
stop = ^S; susp = ^Z; rprnt = ^R; werase = ^W; lnext = ^V; discard = ^O; min = 1; time = 0;
-parenb -parodd -cmspar cs8 hupcl -cstopb cread -clocal -crtscts
-ignbrk brkint -ignpar -parmrk -inpck -istrip -inlcr -igncr icrnl -ixon -ixoff -iuclc ixany imaxbel iutf8
opost -olcuc -ocrnl onlcr -onocr -onlret -ofill -ofdel nl0 cr0 tab0 bs0 vt0 ff0
isig icanon iexten echo echoe echok -echonl -noflsh -xcase -tostop -echoprt echoctl echoke -flusho -extproc
`;

describe('terminal modes', () => {
  const modes = new Map(modesFromSttyAll(STTY_A));

  it('reads special characters from stty -a as their bytes; <undef> as 255', () => {
    assert.equal(modes.get(1), 7, 'intr ^G');
    assert.equal(modes.get(2), 0x1c, 'quit ^\\');
    assert.equal(modes.get(3), 8, 'erase ^H');
    assert.equal(modes.get(5), 4, 'eof ^D');
    assert.equal(modes.get(6), TTY_DISABLED, 'eol <undef>');
    assert.equal(modes.get(7), 0xff, 'eol2 M-^?');
    assert.equal(modes.get(18), 0x0f, 'discard ^O');
    assert.equal(modes.get(12), 0x12, 'rprnt ^R');
  });

  it('reads flags as 1 and "-flag" as 0, and the character size as CS7/CS8', () => {
    assert.equal(modes.get(38), 0, '-ixon');
    assert.equal(modes.get(42), 1, 'iutf8');
    assert.equal(modes.get(39), 1, 'ixany');
    assert.equal(modes.get(53), 1, 'echo');
    assert.equal(modes.get(56), 0, '-echonl');
    assert.equal(modes.get(72), 1, 'onlcr');
    assert.equal(modes.get(91), 1, 'cs8');
    assert.equal(modes.get(90), 0, 'not cs7');
    assert.equal(modes.get(92), 0, '-parenb');
    assert.equal(modesFromSttyAll(STTY_A.replace(' cs8 ', ' cs7 ')).find(([op]) => op === 90)?.[1], 1);
  });

  it('leaves out what it does not know: min, time, speeds, flags without an opcode', () => {
    assert.ok([...modes.keys()].every((op) => op >= 1 && op <= 159));
    // 15 characters; flags: 4 of the control modes (cs7 from cs8), 13 input, 6 output, 12 local.
    assert.equal(modes.size, 15 + 4 + 13 + 6 + 12, [...modes.keys()].join(','));
  });

  it('gives stty arguments that set what was read; disabled characters as undef', () => {
    const args = sttyArgsFor([...modes]);
    const at = (name: string): string | undefined => args[args.indexOf(name) + 1];
    assert.equal(at('intr'), '0x07');
    assert.equal(at('erase'), '0x08');
    assert.equal(at('eol'), 'undef');
    assert.ok(args.includes('-ixon') && args.includes('iutf8') && args.includes('cs8') && !args.includes('cs7') && !args.includes('-cs7'));
    assert.ok(args.every((a) => /^-?[a-z0-9]+$/.test(a)), args.join(' '));
  });

  it('skips unknown opcodes and out-of-range characters; the last of a repeated opcode wins', () => {
    assert.deepEqual(sttyArgsFor([[100, 1], [11, 25], [17, 20], [3, 0x1ff]]), []);
    assert.deepEqual(sttyArgsFor([[3, 8], [3, 0x7f], [38, 1], [38, 0]]), ['erase', '0x7f', '-ixon']);
    assert.deepEqual(sttyArgsFor([[3, 0]]), ['erase', 'undef']);
    assert.deepEqual(sttyArgsFor([[62, 1], [53, 0]]), ['-echo'], 'PENDIN: Linux\'s stty has no word for it');
    assert.deepEqual(sttyArgsFor([[42, 7]]), ['iutf8'], 'any non-zero value sets a flag, as in sshd');
  });
});

describe('which protocol carries terminal modes', () => {
  const req: SessionRequest = { type: 'session-request', user: '', command: '', pty: true, term: 'xterm', cols: 80, rows: 24, env: [], modes: [[3, 8]] };

  it('tlssh/3 and tlssh/3+mux do, tlssh/2 and tlssh/2+mux do not', () => {
    assert.deepEqual(negotiated('tlssh/3'), { multiplexed: false, ttyModes: true });
    assert.deepEqual(negotiated('tlssh/3+mux'), { multiplexed: true, ttyModes: true });
    assert.deepEqual(negotiated('tlssh/2+mux'), { multiplexed: true, ttyModes: false });
    assert.deepEqual(negotiated('tlssh/2'), { multiplexed: false, ttyModes: false });
    assert.equal(negotiated('h2'), undefined);
    assert.equal(negotiated(false), undefined);
  });

  it('drops the modes from a request for a tlssh/2 connection and keeps everything else', () => {
    assert.equal(requestFor('tlssh/3', req), req);
    const { modes: _m, ...rest } = req;
    assert.deepEqual(requestFor('tlssh/2+mux', req), rest);
    assert.deepEqual(requestFor('tlssh/2', req), rest);
  });
  it('names each opcode as RFC 4254 section 8 (and RFC 8160 for IUTF8) numbers it', () => {
    const chars: Record<number, string> = {
      1: 'intr', 2: 'quit', 3: 'erase', 4: 'kill', 5: 'eof', 6: 'eol', 7: 'eol2', 8: 'start', 9: 'stop', 10: 'susp',
      12: 'rprnt', 13: 'werase', 14: 'lnext', 16: 'swtch', 18: 'discard',
    };
    const flags: Record<number, string> = {
      30: 'ignpar', 31: 'parmrk', 32: 'inpck', 33: 'istrip', 34: 'inlcr', 35: 'igncr', 36: 'icrnl', 37: 'iuclc', 38: 'ixon',
      39: 'ixany', 40: 'ixoff', 41: 'imaxbel', 42: 'iutf8', 50: 'isig', 51: 'icanon', 52: 'xcase', 53: 'echo', 54: 'echoe',
      55: 'echok', 56: 'echonl', 57: 'noflsh', 58: 'tostop', 59: 'iexten', 60: 'echoctl', 61: 'echoke', 70: 'opost',
      71: 'olcuc', 72: 'onlcr', 73: 'ocrnl', 74: 'onocr', 75: 'onlret', 92: 'parenb', 93: 'parodd',
    };
    for (const [op, name] of Object.entries(chars)) assert.deepEqual(sttyArgsFor([[Number(op), 3]]), [name, '0x03'], op);
    for (const [op, name] of Object.entries(flags)) {
      assert.deepEqual(sttyArgsFor([[Number(op), 1]]), [name], op);
      assert.deepEqual(sttyArgsFor([[Number(op), 0]]), [`-${name}`], op);
    }
    assert.deepEqual(sttyArgsFor([[90, 1]]), ['cs7']);
    assert.deepEqual(sttyArgsFor([[91, 1]]), ['cs8']);
  });
});
