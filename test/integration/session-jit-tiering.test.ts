// Terminal sessions run the client and the worker without V8's optimising compiler until bulk
// data flows (src/jit-tiering.ts, bench/RESULTS.md row 5): both processes say so at
// debug level when they switch, a command without a terminal never switches, and a terminal
// session that moves megabytes turns the compiler back on in both.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BULK_BYTES } from '../../src/jit-tiering';
import { runTlssh, startFixture, type ClientFixture } from './client-fixture';

const OFF = /optimising compiler off until/;
const ON = /optimising compiler back on/;

function count(text: string, re: RegExp): number {
  return text.split('\n').filter((l) => re.test(l)).length;
}

/** `text` (a client's stderr, a daemon's log) says the compiler went off `off` times and on `on` times. */
function assertSwitches(text: string, off: number, on: number): void {
  assert.equal(count(text, OFF), off, text);
  assert.equal(count(text, ON), on, text);
}

describe('V8 tiering in terminal sessions', () => {
  let fx: ClientFixture;
  let conf: string[];
  before(async () => {
    fx = await startFixture({ serverConfig: { LogLevel: 'DEBUG' } });
    conf = ['-c', fx.configFile, '-v'];
  });
  after(async () => {
    await fx?.stop();
  });

  it('a command without a terminal keeps the compiler in both processes, however much it moves', async () => {
    const before = fx.server.logs();
    const r = await runTlssh([...conf, '-T', 'localhost', `head -c ${3 * BULK_BYTES} /dev/zero`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 3 * BULK_BYTES);
    assertSwitches(r.stderr, 0, 0);
    assertSwitches(await logsUntilClosed(before), 0, 0);
  });

  it('a terminal session turns it off in the client and the worker, and typing alone does not turn it on', async () => {
    const before = fx.server.logs();
    const r = await runTlssh([...conf, '-tt', 'localhost', 'echo typed'], { input: 'abc\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /typed/);
    assertSwitches(r.stderr, 1, 0);
    assertSwitches(await logsUntilClosed(before), 1, 0);
  });

  it('bulk output in a terminal session turns it back on in both', async () => {
    const before = fx.server.logs();
    const r = await runTlssh([...conf, '-tt', 'localhost', `head -c ${2 * BULK_BYTES} /dev/zero | base64`]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 2 * BULK_BYTES, `${r.stdout.length} bytes of output`);
    assertSwitches(r.stderr, 1, 1);
    assertSwitches(await logsUntilClosed(before), 1, 1);
  });

  it('a light client sharing a ControlMaster\'s connection switches as the direct client does', async () => {
    const cmDir = path.join(fx.dir, 'cm');
    fs.mkdirSync(cmDir, { mode: 0o700 });
    const share = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(cmDir, 's')}`, '-o', 'ControlPersist=yes'];
    try {
      // The first starts the master; the next are light clients relaying through it.
      assert.equal((await runTlssh([...conf, ...share, '-T', 'localhost', 'true'])).status, 0);
      const typed = await runTlssh([...conf, ...share, '-tt', 'localhost', 'echo typed'], { input: 'abc\n' });
      assert.equal(typed.status, 0, typed.stderr);
      assert.match(typed.stderr, /shared session through the master/);
      assertSwitches(typed.stderr, 1, 0);
      const bulk = await runTlssh([...conf, ...share, '-tt', 'localhost', `head -c ${2 * BULK_BYTES} /dev/zero | base64`]);
      assert.equal(bulk.status, 0, bulk.stderr);
      assert.match(bulk.stderr, /shared session through the master/);
      assert.ok(bulk.stdout.length > 2 * BULK_BYTES, `${bulk.stdout.length} bytes of output`);
      assertSwitches(bulk.stderr, 1, 1);
    } finally {
      await runTlssh([...conf, ...share, '-O', 'exit', 'localhost']);
    }
  });

  /** The daemon's log lines since `before`, once the session has closed there. */
  async function logsUntilClosed(before: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const added = fx.server.logs().slice(before.length);
      if (/session closed/.test(added)) return added;
      await new Promise((r) => setTimeout(r, 50));
    }
    return fx.server.logs().slice(before.length);
  }
});
