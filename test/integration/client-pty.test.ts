// Interactive tlssh driven through a real pseudo-terminal: an outer bash runs inside node-pty as
// a person's terminal would, and tlssh runs in it. Checks the login, escapes, window changes,
// suspend, and that the outer terminal's modes are exactly restored however tlssh ends.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IPty } from 'node-pty';
import { TLSSH, startFixture, type ClientFixture } from './client-fixture';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

/** Bounds each wait so a broken build fails instead of hanging; not a timing assertion. */
const WAIT_MS = 20_000;

interface Terminal {
  pty: IPty;
  output(): string;
  /** Resolves once the output since `from` matches `re`; returns the index just after the match. */
  waitFor(re: RegExp, from?: number): Promise<number>;
  type(s: string): void;
  close(): void;
}

function outerTerminal(dir: string): Terminal {
  const pty = nodePty.spawn('/bin/bash', ['--norc', '--noprofile', '-i'], {
    name: 'xterm',
    cols: 80,
    rows: 24,
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, TERM: 'xterm', LANG: 'C', PS1: 'OUTER$ ' },
  });
  let out = '';
  const waiters = new Set<() => void>();
  pty.onData((d) => {
    out += d;
    for (const w of [...waiters]) w();
  });
  return {
    pty,
    output: () => out,
    waitFor: (re, from = 0) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(out.slice(from));
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(from + m.index + m[0].length);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${re} in terminal output; last output: ${JSON.stringify(out.slice(-1500))}`));
        }, WAIT_MS);
        waiters.add(check);
        check();
      }),
    type: (s) => pty.write(s),
    close: () => {
      try {
        pty.kill('SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

describe('tlssh with a pseudo-terminal', () => {
  let fx: ClientFixture;
  let term: Terminal | undefined;
  let n = 0;
  before(async () => {
    fx = await startFixture();
  });
  after(async () => {
    await fx?.stop();
  });

  /**
   * Starts an outer shell that records `stty -g`, runs tlssh (exec'd under a recorded pid), then
   * prints tlssh's status and records `stty -g` again. Resolves once the remote shell answers.
   */
  async function login(extraArgs: string[] = [], alone = false): Promise<{ t: Terminal; tag: string; pidFile: string; mark: number }> {
    const tag = `run${++n}`;
    const t = outerTerminal(fx.dir);
    term = t;
    await t.waitFor(/OUTER\$ $/);
    const pidFile = path.join(fx.dir, `${tag}.pid`);
    const launch = `bash -c 'echo $$ > ${pidFile}; exec "$0" "$@"' "${process.execPath}" "${TLSSH}" -c "${fx.configFile}" ${extraArgs.join(' ')} localhost`;
    // With job control in play (suspend), tlssh must be a job of its own, not part of a list
    // that would go on to its next command while tlssh is stopped.
    if (alone) t.type(`stty -g > ${tag}.before; ${launch}\r`);
    else t.type(`stty -g > ${tag}.before; ${launch}; echo "RC=$?"; stty -g > ${tag}.after\r`);
    // Arithmetic, so the typed command's echo cannot satisfy the wait: only the remote shell can.
    t.type('echo READY-$((6*7))\r');
    const mark = await t.waitFor(/READY-42/);
    return { t, tag, pidFile, mark };
  }

  function sttyRestored(tag: string): void {
    const before = fs.readFileSync(path.join(fx.dir, `${tag}.before`), 'utf8');
    const afterModes = fs.readFileSync(path.join(fx.dir, `${tag}.after`), 'utf8');
    assert.ok(before.length > 10, 'stty -g recorded');
    assert.equal(afterModes, before, 'terminal modes restored exactly');
  }

  async function finished(t: Terminal, from: number): Promise<number> {
    const at = await t.waitFor(/RC=(\d+)/, from);
    const status = Number(/RC=(\d+)/.exec(t.output().slice(from))?.[1]);
    await t.waitFor(/OUTER\$ $/, at);
    return status;
  }

  it('logs in, runs `echo hi; exit 3`, and exits 3 with the terminal restored', async (ctx) => {
    ctx.after(() => term?.close());
    // The goodbye names the host connected to (HostName), as ssh's does, not the name typed.
    const { t, tag, mark } = await login(['-o', 'HostName=127.0.0.1']);
    t.type('echo hi-$((40+2)); exit 3\r');
    const at = await t.waitFor(/hi-42/, mark);
    assert.equal(await finished(t, at), 3);
    assert.match(t.output().slice(at), /Connection to 127\.0\.0\.1 closed\./);
    sttyRestored(tag);
  });

  it('gives the remote side a terminal with the local TERM', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login();
    t.type('tty >/dev/null && echo "TTY-OK TERM=$TERM"\r');
    await t.waitFor(/TTY-OK TERM=xterm/, mark);
    t.type('exit\r');
    assert.equal(await finished(t, mark), 0);
    sttyRestored(tag);
  });

  it('~. disconnects at once with status 255 and restores the terminal', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login();
    t.type('\r~.');
    assert.equal(await finished(t, mark), 255);
    // As ssh: the escape is echoed, since the raw terminal showed none of it, then the goodbye.
    assert.match(t.output().slice(mark), /~\.\r\nConnection to localhost closed\./);
    sttyRestored(tag);
  });

  it('~? lists the escapes and the session goes on; ~~ sends one ~', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login();
    t.type('\r~?');
    let at = await t.waitFor(/~\?\r\nSupported escape sequences:/, mark);
    // Through cat, what arrived is visible: the terminal echoes the line, then cat repeats it.
    // Typed only once the shell has handed the terminal, in cooked mode again, to the command.
    t.type('echo CAT-$((3*3)); cat\r');
    at = await t.waitFor(/CAT-9/, at);
    t.type('~~x\r');
    at = await t.waitFor(/[\r\n]~x\r\n~x\r\n/, at);
    assert.doesNotMatch(t.output().slice(at - 12), /~~x/);
    t.type('\x04');
    t.type('exit 0\r');
    assert.equal(await finished(t, at), 0);
    sttyRestored(tag);
  });

  it('-e none turns escapes off: ~. reaches the remote side', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login(['-e', 'none']);
    t.type('\r~.; echo "STILL-$((2+3))"\r');
    await t.waitFor(/STILL-5/, mark);
    t.type('exit 4\r');
    assert.equal(await finished(t, mark), 4);
    sttyRestored(tag);
  });

  it('passes window changes on: resizing the outer terminal changes `stty size` remotely', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login();
    t.type('stty size\r');
    let at = await t.waitFor(/[\r\n]24 80\r\n/, mark);
    t.pty.resize(100, 30);
    // The resize reaches tlssh as SIGWINCH, asynchronously; ask until the remote side agrees.
    for (let i = 0; i < 100 && !/[\r\n]30 100\r\n/.test(t.output().slice(at)); i++) {
      t.type('stty size\r');
      await new Promise((r) => setTimeout(r, 100));
    }
    at = await t.waitFor(/[\r\n]30 100\r\n/, at);
    t.type('exit\r');
    assert.equal(await finished(t, at), 0);
    // stty -g holds no window size, so the modes must still match exactly.
    sttyRestored(tag);
  });

  // SIGUSR1 as SIGTERM: without a listener for it, Node would open its inspector instead.
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGUSR1'] as const) {
    it(`restores the terminal when tlssh gets ${signal}`, async (ctx) => {
      ctx.after(() => term?.close());
      const { t, tag, pidFile, mark } = await login();
      const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
      process.kill(pid, signal);
      assert.equal(await finished(t, mark), 255);
      assert.doesNotMatch(t.output().slice(mark), /Debugger|inspector/i);
      sttyRestored(tag);
    });
  }

  it('restores the terminal when the connection drops', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login();
    const workers = fx.server.workerPids();
    assert.ok(workers.length > 0, 'a worker serves the session');
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    assert.equal(await finished(t, mark), 255);
    assert.match(t.output().slice(mark), /tlssh: /);
    sttyRestored(tag);
  });

  it('~^Z suspends tlssh with the terminal restored, and fg resumes the session', async (ctx) => {
    ctx.after(() => term?.close());
    const { t, tag, mark } = await login([], true);
    t.type('\r~\x1a');
    let at = await t.waitFor(/Stopped/, mark);
    at = await t.waitFor(/OUTER\$ $/, at);
    t.type(`stty -g > ${tag}.suspended\r`);
    at = await t.waitFor(/OUTER\$ $/, at);
    assert.equal(
      fs.readFileSync(path.join(fx.dir, `${tag}.suspended`), 'utf8'),
      fs.readFileSync(path.join(fx.dir, `${tag}.before`), 'utf8'),
      'modes while suspended are the original ones',
    );
    // The window changes while tlssh is stopped: the SIGWINCH goes to the outer shell, the
    // foreground job then, so tlssh must ask for the size itself when it comes back.
    t.pty.resize(90, 33);
    t.type('fg\r');
    t.type('echo BACK-$((1+1)) $(stty size)\r');
    at = await t.waitFor(/BACK-2 33 90/, at);
    t.type('exit 5\r');
    at = await t.waitFor(/Connection to localhost closed\./, at);
    t.type(`echo "RC=$?"; stty -g > ${tag}.after\r`);
    assert.equal(await finished(t, at), 5);
    sttyRestored(tag);
  });
});
