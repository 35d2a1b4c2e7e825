// The local terminal's modes reach the remote terminal (tlssh/3, as ssh's pty-req carries them):
// erase and interrupt keys, flow control and UTF-8 line editing set locally hold remotely, on a
// direct connection and through a ControlMaster. The real tlssh runs in a real terminal (an
// outer node-pty bash) against a real tlsshd.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pollUntil } from '../helpers/poll';
import { TLSSH, runTlssh, startFixture, type ClientFixture } from './client-fixture';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

/** Bounds each wait so a broken build fails instead of hanging; never a timing assertion. */
const WAIT_MS = 30_000;

interface Outer {
  run(line: string, done: RegExp): Promise<string>;
  kill(): void;
}

async function outerTerminal(dir: string): Promise<Outer> {
  const term = nodePty.spawn('/bin/bash', ['--norc', '--noprofile', '-i'], {
    name: 'xterm', cols: 80, rows: 24, cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, TERM: 'xterm', LANG: 'C', PS1: 'OUTER$ ' },
  });
  let out = '';
  term.onData((d) => { out += d; });
  let mark = 0;
  const waitFor = async (re: RegExp): Promise<string> => {
    await pollUntil(`${re} in the terminal; last: ${JSON.stringify(out.slice(-800))}`, () => re.test(out.slice(mark)), { limitMs: WAIT_MS, everyMs: 50 });
    const m = re.exec(out.slice(mark))!;
    const seen = out.slice(mark, mark + m.index + m[0].length);
    mark += m.index + m[0].length;
    return seen;
  };
  await waitFor(/OUTER\$ $/);
  return {
    run: async (line, done) => {
      term.write(`${line}\r`);
      return waitFor(done);
    },
    kill: () => term.kill(),
  };
}

describe('terminal modes, as ssh passes them', () => {
  let fx: ClientFixture;
  let outer: Outer;
  let n = 0;

  before(async () => {
    fx = await startFixture();
    fs.mkdirSync(path.join(fx.dir, 'cm'), { mode: 0o700 });
    outer = await outerTerminal(fx.dir);
    // What a user might have: ^H to erase, ^G to interrupt, no XON/XOFF, UTF-8 line editing.
    await outer.run('stty erase ^H intr ^G -ixon iutf8; echo SET=$?', /SET=0/);
  });
  after(async () => {
    outer?.kill();
    await fx?.stop();
  });

  /** `stty -a` of the remote terminal, for tlssh run in the outer terminal with `args`. */
  async function remoteStty(args: string[]): Promise<string> {
    const file = path.join(fx.dir, `remote-${++n}.stty`);
    await outer.run(`"${process.execPath}" "${TLSSH}" ${args.join(' ')} -t localhost 'stty -a > ${file}'; echo RC${n}=$?`, new RegExp(`RC${n}=0`));
    return fs.readFileSync(file, 'utf8');
  }

  function assertLocalModes(text: string): void {
    assert.match(text, /\berase = \^H;/, text);
    assert.match(text, /\bintr = \^G;/, text);
    assert.match(text, /(^|\s)-ixon(\s|$)/m, text);
    assert.match(text, /(^|\s)iutf8(\s|$)/m, text);
  }

  it('gives the remote terminal the local erase and interrupt keys, -ixon and iutf8', async () => {
    assertLocalModes(await remoteStty(['-F', fx.configFile]));
  });

  it('does the same through a ControlMaster, for the master\'s own session and a later one', async () => {
    const cm = ['-F', fx.configFile, '-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(fx.dir, 'cm', 's1')}`, '-o', 'ControlPersist=yes'];
    try {
      assertLocalModes(await remoteStty(cm));
      assertLocalModes(await remoteStty(cm));
    } finally {
      await runTlssh([...cm, '-O', 'exit', 'localhost']);
    }
  });

  it('erases a whole UTF-8 character in a canonical-mode read, as the local iutf8 says', async () => {
    // é, erase (^H here), a: the remote read gets "a" alone.
    const file = path.join(fx.dir, 'read.hex');
    // Typed only once the remote read waits: typed earlier, the local terminal would edit the line.
    await outer.run(`"${process.execPath}" "${TLSSH}" -F ${fx.configFile} -t localhost 'echo READ""Y; read -r x; printf %s "$x" | od -An -tx1 > ${file}'; echo READ=$?`, /READY/);
    await outer.run('\u00e9\ba', /READ=0/);
    assert.equal(fs.readFileSync(file, 'utf8').trim(), '61');
  });

  it('sends none without a local terminal (-tt with a pipe): the remote terminal keeps its defaults', async () => {
    const r = await runTlssh(['-F', fx.configFile, '-tt', 'localhost', 'stty -a'], { input: '' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /\berase = \^\?;/);
    assert.match(r.stdout.toString(), /\bintr = \^C;/);
  });
});
