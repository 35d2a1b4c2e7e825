// The end of a PTY session loses nothing: every byte the command wrote reaches the client before
// the exit status, run after run, for a reader that keeps up and for one that falls behind
// (flow control holding output back while the command exits), at the server and through tlssh.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAlive, sessionRequest, type ClientIdentity } from '../helpers/server-harness';
import { TLSSH, runTlssh, startFixture, type ClientFixture } from './client-fixture';
import { recordSession } from './session-end-client';
import { pollUntil } from '../helpers/poll';

const RUNS = 20;

/** What `seq 1 n` looks like through a terminal: onlcr turns each LF into CR LF. */
function seqOnPty(n: number): Buffer {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) lines.push(`${i}\r\n`);
  return Buffer.from(lines.join(''), 'latin1');
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Polls `cond`; a bound against hangs, never a timing assertion. */
async function until(cond: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  await pollUntil(what, cond, { limitMs, everyMs: 20 });
}

function killPidFile(file: string): void {
  try {
    process.kill(Number(fs.readFileSync(file, 'utf8').trim()), 'SIGKILL');
  } catch {
    // Never started or already gone.
  }
}

describe('PTY output at the end of a session', () => {
  let fx: ClientFixture;
  let id: ClientIdentity;
  let conf: string[];
  before(async () => {
    fx = await startFixture();
    id = { caFile: fx.ca.certFile, certFile: fx.client.certFile, keyFile: fx.client.keyFile };
    conf = ['-c', fx.configFile];
  });
  after(async () => {
    await fx?.stop();
  });

  it(`the server sends all of \`seq 1 300000\` before the exit status, ${RUNS} runs out of ${RUNS}`, { timeout: 300_000 }, async () => {
    const expected = seqOnPty(300_000);
    const bad: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await recordSession(fx.server.port, id, {
        request: sessionRequest({ command: 'seq 1 300000', pty: true, term: 'dumb' }),
        endStdin: false,
      });
      assert.equal(r.exit?.code, 0, `run ${i}: ${JSON.stringify(r.order)}`);
      assert.deepEqual(r.order, ['session-started', 'data 1', 'eof 1', 'exit-status'], `run ${i}`);
      if (r.stdout.length !== expected.length || sha256(r.stdout) !== sha256(expected)) bad.push(`run ${i}: ${r.stdout.length} bytes`);
    }
    assert.deepEqual(bad, [], `expected ${expected.length} bytes every time`);
  });

  it('a client that stops returning window credit while the command exits still gets everything, even with a background job holding the terminal', { timeout: 120_000 }, async () => {
    // Just over one window (2 MB), so the server is stopped by flow control with the rest of the
    // output in its buffers and the terminal's when the command exits: about 80 KB more, beyond
    // what the server's write buffer takes, so that the terminal is no longer being read. The
    // background job (deaf to SIGHUP) keeps the terminal open, so the kernel does not hold the
    // exit until the output is read.
    const n = 286_000;
    const expected = seqOnPty(n);
    const tag = `bg-${Date.now()}`;
    const bgPid = path.join(fx.dir, `${tag}.bg`);
    const shellPid = path.join(fx.dir, `${tag}.sh`);
    const done = path.join(fx.dir, `${tag}.done`);
    let release!: () => void;
    const holdCredit = new Promise<void>((r) => (release = r));
    const session = recordSession(fx.server.port, id, {
      request: sessionRequest({
        command: `echo $$ > ${shellPid}; (trap '' HUP; exec sleep 60) & echo $! > ${bgPid}; seq 1 ${n}; touch ${done}`,
        pty: true,
        term: 'dumb',
      }),
      endStdin: false,
      holdCredit,
    });
    try {
      await until(() => fs.existsSync(done) && fs.existsSync(shellPid), 'the command to finish writing');
      const pid = Number(fs.readFileSync(shellPid, 'utf8').trim());
      await until(() => !isAlive(pid), 'the shell to exit');
      // Stay behind a while longer after the exit: anything that gives up on unread output soon
      // after the exit (node-pty's stream did, at 200 ms) has done so by then.
      await new Promise((r) => setTimeout(r, 1000));
      release();
      const r = await session;
      assert.equal(r.exit?.code, 0, JSON.stringify(r.order));
      assert.equal(r.stdout.length, expected.length);
      assert.equal(sha256(r.stdout), sha256(expected));
      assert.deepEqual(r.order, ['session-started', 'data 1', 'eof 1', 'exit-status']);
    } finally {
      release();
      killPidFile(bgPid);
    }
  });

  it(`\`tlssh -tt host 'seq 1 300000' </dev/null\` writes all of it, ${RUNS} runs out of ${RUNS}`, { timeout: 300_000 }, async () => {
    const expected = seqOnPty(300_000);
    const bad: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await runTlssh([...conf, '-q', '-tt', 'localhost', 'seq 1 300000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(r.status, 0, `run ${i}: ${r.stderr}`);
      if (r.stdout.length !== expected.length || sha256(r.stdout) !== sha256(expected)) bad.push(`run ${i}: ${r.stdout.length} bytes`);
    }
    assert.deepEqual(bad, [], `expected ${expected.length} bytes every time`);
  });

  it('a local reader that falls behind gets all of a large PTY output through flow control', { timeout: 120_000 }, async () => {
    const n = 700_000;
    const expected = seqOnPty(n);
    const child = spawn(process.execPath, [TLSSH, ...conf, '-q', '-tt', 'localhost', `seq 1 ${n}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let sinceBreak = 0;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      chunks.push(b);
      sinceBreak += b.length;
      // A slow reader: every 256 KB it looks away for a moment, so tlssh's stdout, then the
      // channel window, then the server fill up and wait.
      if (sinceBreak >= 256 * 1024) {
        sinceBreak = 0;
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), 50);
      }
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    clearTimeout(killer);
    const out = Buffer.concat(chunks);
    assert.equal(status, 0, stderr);
    assert.equal(out.length, expected.length);
    assert.equal(sha256(out), sha256(expected));
  });
});
