// The real bin/tlssh against a real tlsshd, for what keeps a session alive and what ends it:
// keepalive pongs that count, SIGHUP to the command when the client dies, and a PTY session's
// stdin end reaching the program as the terminal's EOF character.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TLSSH, runTlssh, startFixture, type ClientFixture } from './client-fixture';

let fx: ClientFixture;
let conf: string[];
/** Where the remote commands, run as the fixture's user, leave their markers. */
let scratch: string;

before(async () => {
  // Keepalive 1 on both ends: a side that ignored pongs would drop the session after 4 s.
  fx = await startFixture({ clientConfig: { Keepalive: '1' }, serverConfig: { Keepalive: '1' } });
  // Not the fixture's own directory: tlsshd refuses a CA in a directory others may write to.
  scratch = path.join(fx.dir, 'scratch');
  fs.mkdirSync(scratch);
  fs.chmodSync(scratch, 0o777);
  conf = ['-c', fx.configFile, '-q'];
});
after(async () => {
  await fx?.stop();
});

async function waitForFile(file: string, limitMs = 15_000): Promise<string> {
  for (let waited = 0; waited < limitMs; waited += 50) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) return fs.readFileSync(file, 'utf8');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never appeared`);
}

describe('keepalive', () => {
  it('an idle session outlives many keepalive periods on both sides', async () => {
    // Seven periods, nothing but keepalive on the wire meanwhile.
    const r = await runTlssh([...conf, 'localhost', 'sleep 7; echo survived'], { killAfterMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'survived\n');
  });
});

describe('a lost connection hangs the session up', () => {
  for (const pty of [false, true]) {
    it(`SIGKILL of tlssh sends SIGHUP to the remote command and the jobs it started${pty ? ' (pty)' : ''}`, async () => {
      const marker = path.join(scratch, `hup-${pty ? 'pty' : 'pipes'}`);
      const child = spawn(process.execPath, [TLSSH, ...conf, ...(pty ? ['-tt'] : []), 'localhost', `trap 'echo hup > ${marker}; exit 0' HUP; sleep 60 & echo "ready $!"; wait`], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const closed = new Promise((resolve) => child.once('close', resolve));
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const job = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /ready (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        // A session that never starts fails here, not at the file's timeout.
        void closed.then(() => reject(new Error(`tlssh ended before the command started: ${stderr}`)));
      });
      child.kill('SIGKILL');
      await closed;
      assert.equal(await waitForFile(marker), 'hup\n');
      // The background job had no trap: the hang-up reached the session's whole process group.
      const alive = (): boolean => {
        try {
          process.kill(job, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 200 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(alive(), false, `the job ${job} outlived the hang-up`);
    });
  }
});

describe('PTY stdin end of file', () => {
  for (const [name, content] of [
    ['lines', 'line one\nline two\n'],
    ['a last line without a newline', 'line one\nno newline at the end'],
    ['nothing at all', ''],
  ] as const) {
    it(`\`tlssh -tt host cat < file\` ends, with ${name}`, async () => {
      const file = path.join(fx.dir, `stdin-${name.replace(/\W+/g, '-')}`);
      fs.writeFileSync(file, content);
      const fd = fs.openSync(file, 'r');
      try {
        const r = await runTlssh([...conf, '-tt', 'localhost', 'cat'], { stdio: [fd, 'pipe', 'pipe'], killAfterMs: 30_000 });
        assert.equal(r.status, 0, `status ${r.status}: ${r.stderr}`);
        const out = r.stdout.toString();
        // The terminal echoes the input and cat writes it again: every line twice.
        for (const line of content.split('\n').filter((l) => l !== '')) {
          assert.equal(out.split(line).length - 1, 2, `"${line}" in ${JSON.stringify(out)}`);
        }
      } finally {
        fs.closeSync(fd);
      }
    });
  }
});
