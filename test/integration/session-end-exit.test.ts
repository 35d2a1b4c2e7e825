// How a session ends, as ssh and sshd end it: tlssh exits with the remote status as soon as the
// remote command is over, whatever its own stdin is doing; a command that closes its output
// early still reports its status; a PTY session ends when its shell exits, background jobs or
// not; stdin's end of file reaches a PTY shell only as the input before it; and exit-status is
// always the last thing before the connection closes.

import { strict as assert } from 'node:assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sessionRequest, type ClientIdentity } from '../helpers/server-harness';
import { TLSSH, runTlssh, startFixture, type ClientFixture } from './client-fixture';
import { recordSession } from './session-end-client';

/** A bound against hangs: a tlssh that does not exit is killed and the test fails on its status. */
const HANG_LIMIT_MS = 20_000;

interface Ended {
  status: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Ended> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const killer = setTimeout(() => {
    stderr += '[test: tlssh did not exit; killed]\n';
    child.kill('SIGKILL');
  }, HANG_LIMIT_MS);
  return new Promise((resolve) =>
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stdout, stderr });
    }),
  );
}

function killPidFile(file: string): void {
  try {
    process.kill(Number(fs.readFileSync(file, 'utf8').trim()), 'SIGKILL');
  } catch {
    // Never started or already gone.
  }
}

describe('the end of a session', () => {
  let fx: ClientFixture;
  let id: ClientIdentity;
  let conf: string[];
  let n = 0;
  const tmp = (what: string): string => path.join(fx.dir, `end-${process.pid}-${++n}.${what}`);
  before(async () => {
    fx = await startFixture();
    id = { caFile: fx.ca.certFile, certFile: fx.client.certFile, keyFile: fx.client.keyFile };
    conf = ['-c', fx.configFile, '-q'];
  });
  after(async () => {
    await fx?.stop();
  });

  describe('tlssh exits when the remote command ends, though its stdin is still open', () => {
    for (const pty of [false, true]) {
      const flags = pty ? ['-tt'] : [];
      const nl = pty ? '\r\n' : '\n';

      it(`stdin an open pipe (\`sleep 1000 | tlssh${pty ? ' -tt' : ''} host ...\`)`, async () => {
        // A real pipe whose writer stays: bash execs tlssh on the read end of a process substitution.
        const pidFile = tmp('writer');
        const script = 'exec 3< <(exec sleep 1000 2>/dev/null); echo $! > "$1"; shift; exec "$@" <&3 3<&-';
        const child = spawn('bash', ['-c', script, 'bash', pidFile, process.execPath, TLSSH, ...conf, ...flags, 'localhost', 'echo out; exit 3'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        try {
          const r = await collect(child);
          assert.equal(r.status, 3, r.stderr);
          assert.equal(r.stdout, `out${nl}`);
        } finally {
          killPidFile(pidFile);
        }
      });

      it(`stdin an open FIFO${pty ? ' (-tt)' : ''}`, async () => {
        const fifo = tmp('fifo');
        execFileSync('mkfifo', [fifo]);
        // Our read-write descriptor is the writer that never closes.
        const writer = fs.openSync(fifo, 'r+');
        const reader = fs.openSync(fifo, 'r');
        try {
          const child = spawn(process.execPath, [TLSSH, ...conf, ...flags, 'localhost', 'echo out; exit 4'], { stdio: [reader, 'pipe', 'pipe'] });
          const r = await collect(child);
          assert.equal(r.status, 4, r.stderr);
          assert.equal(r.stdout, `out${nl}`);
        } finally {
          fs.closeSync(reader);
          fs.closeSync(writer);
        }
      });

      it(`stdin an open socket, as Node's spawn gives${pty ? ' (-tt)' : ''}`, async () => {
        const child = spawn(process.execPath, [TLSSH, ...conf, ...flags, 'localhost', 'echo out; exit 5'], { stdio: ['pipe', 'pipe', 'pipe'] });
        child.stdin?.on('error', () => undefined);
        try {
          const r = await collect(child);
          assert.equal(r.status, 5, r.stderr);
          assert.equal(r.stdout, `out${nl}`);
        } finally {
          child.stdin?.destroy();
        }
      });
    }

    it('stdin from a pipe still reaches the command in full, then its end of file', async () => {
      const script = 'seq 1 200000 | exec "$@"';
      const child = spawn('bash', ['-c', script, 'bash', process.execPath, TLSSH, ...conf, 'localhost', 'wc -l; exit 6'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const r = await collect(child);
      assert.equal(r.status, 6, r.stderr);
      assert.equal(r.stdout.trim(), '200000');
    });
  });

  describe('a command that closes its output early and goes on running', () => {
    it('without a PTY: `exec >&-; sleep 1; exit 7` exits 7 with the output from before', async () => {
      const r = await runTlssh([...conf, 'localhost', 'echo before; exec >&-; sleep 1; exit 7']);
      assert.equal(r.status, 7, r.stderr);
      assert.equal(r.stdout.toString(), 'before\n');
    });

    it('on a PTY: closing every terminal descriptor does not hang the shell up; it exits 7', async () => {
      const r = await runTlssh([...conf, '-tt', 'localhost', 'echo before; exec >&- 2>&- <&-; sleep 1; exit 7']);
      assert.equal(r.status, 7, r.stderr);
      assert.equal(r.stdout.toString(), 'before\r\n');
    });
  });

  describe('a PTY session and its stdin', () => {
    it("`printf 'echo hi\\nexit 5\\n' | tlssh -tt host` runs the lines in the login shell and exits 5", async () => {
      const r = await runTlssh([...conf, '-tt', 'localhost'], { input: 'echo hi\nexit 5\n' });
      assert.equal(r.status, 5, r.stderr);
      // The terminal echoes the typed line ("echo hi"); the command's own output is a line "hi"
      // (after a carriage return when the shell's line editor has drawn something first).
      assert.match(r.stdout.toString(), /(^|[\r\n])hi\r\n/);
    });
  });

  describe('a PTY session ends when its shell exits (as with sshd)', () => {
    it("`tlssh -tt host 'sleep 100 & exit 0'` exits 0 at once", async () => {
      const r = await runTlssh([...conf, '-tt', 'localhost', 'sleep 100 & exit 0'], { killAfterMs: HANG_LIMIT_MS });
      assert.equal(r.status, 0, r.stderr);
    });

    it('a background job that ignores SIGHUP and keeps the terminal open does not hold the session', async () => {
      const pidFile = tmp('bg');
      try {
        const r = await runTlssh([...conf, '-tt', 'localhost', `(trap '' HUP; exec sleep 100) & echo $! > ${pidFile}; echo started; exit 3`], {
          killAfterMs: HANG_LIMIT_MS,
        });
        assert.equal(r.status, 3, r.stderr);
        assert.equal(r.stdout.toString(), 'started\r\n');
      } finally {
        killPidFile(pidFile);
      }
    });
  });

  describe('a local reader that goes away (EPIPE) still ends the session as before', () => {
    for (const pty of [false, true]) {
      it(`\`tlssh${pty ? ' -tt' : ''} host 'seq 1 10000000' | head -1\` ends by SIGPIPE, quietly`, () => {
        const err = tmp('epipe');
        const script = `"$0" "$@" </dev/null 2>"${err}" | head -1 >/dev/null; echo "status=\${PIPESTATUS[0]}"`;
        const out = execFileSync('bash', ['-c', script, process.execPath, TLSSH, ...conf, ...(pty ? ['-tt'] : []), 'localhost', 'seq 1 10000000'], {
          encoding: 'utf8',
          timeout: HANG_LIMIT_MS,
        });
        assert.equal(out, `status=${128 + constants.signals.SIGPIPE}\n`);
        assert.equal(fs.readFileSync(err, 'utf8'), '');
      });
    }
  });

  describe('exit-status is the last message, after the end of every output stream', () => {
    /** session-started first, exit-status last, every stream's eof before it and no data after its eof. */
    const checkOrder = (order: string[], streams: number[]): void => {
      assert.equal(order[0], 'session-started', JSON.stringify(order));
      assert.equal(order[order.length - 1], 'exit-status', JSON.stringify(order));
      assert.equal(order.filter((m) => m === 'exit-status').length, 1, JSON.stringify(order));
      for (const s of streams) {
        const eof = order.indexOf(`eof ${s}`);
        assert.ok(eof > 0, `no eof on stream ${s}: ${JSON.stringify(order)}`);
        assert.ok(order.lastIndexOf(`data ${s}`) < eof, `data on stream ${s} after its eof: ${JSON.stringify(order)}`);
      }
    };
    const cases: Array<{ name: string; command: string; pty: boolean; code: number; stdout: string }> = [
      { name: 'a command without a PTY', command: 'echo out; echo err >&2; exit 2', pty: false, code: 2, stdout: 'out\n' },
      { name: 'a command that closes stdout early', command: 'echo out; exec >&-; sleep 1; exit 7', pty: false, code: 7, stdout: 'out\n' },
      { name: 'a PTY command', command: 'echo out; exit 4', pty: true, code: 4, stdout: 'out\r\n' },
      { name: 'a PTY command that closes its terminal early', command: 'echo out; exec >&- 2>&- <&-; sleep 1; exit 7', pty: true, code: 7, stdout: 'out\r\n' },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const r = await recordSession(fx.server.port, id, { request: sessionRequest({ command: c.command, pty: c.pty, term: c.pty ? 'dumb' : '' }), endStdin: !c.pty });
        assert.equal(r.exit?.code, c.code, JSON.stringify(r.order));
        assert.equal(r.stdout.toString(), c.stdout);
        // A PTY session has one output stream; stderr goes through the terminal.
        checkOrder(r.order, c.pty ? [1] : [1, 2]);
      });
    }
  });
});
