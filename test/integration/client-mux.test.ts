// Connection sharing through the real programs: bin/tlssh as ControlMaster (a detached master it
// starts itself) and as light clients of it, against a real tlsshd on 127.0.0.1. Covers three
// concurrent sessions of different kinds, -O check/exit, ControlPersist expiry, the socket's
// safety (0700 directory, another uid refused by SO_PEERCRED), a master killed under running
// sessions, and a stale socket replaced.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueCert } from '../helpers/ca';
import { createTestUser, freezeWorkers, isAlive, isRoot, type TestUser } from '../helpers/server-harness';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { TLSSH, runTlssh, startFixture, type ClientFixture } from './client-fixture';
import { tpmClientConfig } from './client-tpm-fixture';
import { pollUntil } from '../helpers/poll';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

/** Bounds each wait so a broken build fails instead of hanging; never a timing assertion. */
const WAIT_MS = 30_000;

async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  await pollUntil(what, check, { limitMs: WAIT_MS, everyMs: 100 });
}

describe('connection sharing (ControlMaster, ControlPath, ControlPersist)', () => {
  let fx: ClientFixture;
  let cmDir: string;
  let n = 0;
  const masters = new Set<number>();

  before(async () => {
    fx = await startFixture();
    cmDir = path.join(fx.dir, 'cm');
    fs.mkdirSync(cmDir, { mode: 0o700 });
  });
  after(async () => {
    for (const pid of masters) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await fx?.stop();
  });

  /** Options for a fresh socket of this test; `persist` as ControlPersist. */
  function shared(persist: string, master = 'auto'): { args: string[]; socket: string } {
    const socket = path.join(cmDir, `s${++n}`);
    return { args: ['-F', fx.configFile, '-o', `ControlMaster=${master}`, '-o', `ControlPath=${socket}`, '-o', `ControlPersist=${persist}`], socket };
  }

  async function masterPid(args: string[]): Promise<number> {
    const r = await runTlssh([...args, '-O', 'check', 'localhost']);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(/^Master running \(pid=(\d+)\)$/m.exec(r.stderr)?.[1]);
    assert.ok(pid > 0, r.stderr);
    masters.add(pid);
    return pid;
  }

  it('runs a PTY session, a command with stdin and a command killed by a signal at once through one master', async () => {
    const { args, socket } = shared('yes');
    const first = await runTlssh([...args, '-v', 'localhost', 'echo first']);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout.toString(), 'first\n');
    assert.match(first.stderr, /starting a connection-sharing master/);
    const st = fs.statSync(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600, 'socket mode 0600');
    const pid = await masterPid(args);

    // The PTY session, in a real terminal.
    const term = nodePty.spawn('/bin/bash', ['--norc', '--noprofile', '-i'], {
      name: 'xterm', cols: 80, rows: 24, cwd: fx.dir,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: fx.dir, TERM: 'xterm', LANG: 'C', PS1: 'OUTER$ ' },
    });
    let out = '';
    term.onData((d) => { out += d; });
    const waitFor = async (re: RegExp, from = 0): Promise<number> => {
      await eventually(`${re} in the terminal; last: ${JSON.stringify(out.slice(-800))}`, () => re.test(out.slice(from)));
      const m = re.exec(out.slice(from))!;
      return from + m.index + m[0].length;
    };
    try {
      await waitFor(/OUTER\$ $/);
      term.write(`stty -g > before.stty; "${process.execPath}" "${TLSSH}" ${args.join(' ')} -v localhost; echo "RC=$?"; stty -g > after.stty\r`);
      term.write('echo PTY-$((6*7)); tty\r');
      let mark = await waitFor(/PTY-42/);
      mark = await waitFor(/\/dev\/pts\/\d+/, mark);
      assert.match(out, /shared session started by master pid (\d+)/);
      assert.equal(Number(/shared session started by master pid (\d+)/.exec(out)?.[1]), pid);

      // While the PTY session runs: a command fed on stdin, and one killed by a signal.
      const [withStdin, killed] = await Promise.all([
        runTlssh([...args, '-v', 'localhost', 'cat; exit 7'], { input: 'through the master\n' }),
        runTlssh([...args, '-v', 'localhost', 'kill -TERM $$']),
      ]);
      assert.equal(withStdin.status, 7, withStdin.stderr);
      assert.equal(withStdin.stdout.toString(), 'through the master\n');
      assert.match(withStdin.stderr, new RegExp(`started by master pid ${pid}\\b`));
      assert.equal(killed.status, 128 + 15, killed.stderr);
      assert.match(killed.stderr, new RegExp(`started by master pid ${pid}\\b`));
      // One TLS connection carried them (tlssh/2+mux): the server numbers the sessions it shares.
      const shared = fx.server.logs().split('\n').filter((l) => /session \d+: /.test(l));
      assert.ok(shared.some((l) => /session \d+: pty, shell/.test(l)), fx.server.logs().slice(-2000));
      assert.ok(shared.filter((l) => /session \d+: no pty, command/.test(l)).length >= 2, fx.server.logs().slice(-2000));

      // The window follows the local terminal. SIGWINCH and the keys typed after it race (for ssh
      // too), so the size is asked until the remote side has it.
      term.resize(100, 30);
      await eventually('the remote terminal is 100x30', async () => {
        term.write('stty size\r');
        await new Promise((r) => setTimeout(r, 500));
        return /30 100/.test(out.slice(mark));
      });
      mark = await waitFor(/30 100/, mark);

      // ~? says that ~. ends only this session; ~. then does so, and the master stays.
      term.write('\r~?');
      mark = await waitFor(/~\?\r\nSupported escape sequences:\r\n ~\.   - terminate session \(the shared connection stays\)/, mark);
      term.write('\r~.');
      mark = await waitFor(/RC=255/, mark);
      assert.match(out.slice(0, mark), /~\.\r\nShared connection to localhost closed\./);
      mark = await waitFor(/OUTER\$ $/, mark);

      // As ssh's, the closing line of a terminal session is INFO: -q (and LogLevel) hide it.
      term.write(`"${process.execPath}" "${TLSSH}" ${args.join(' ')} -t localhost 'exit 0'; echo LOUD=$?\r`);
      const loudStart = mark;
      mark = await waitFor(/LOUD=0/, mark);
      assert.match(out.slice(loudStart, mark), /Shared connection to localhost closed\./);
      term.write(`"${process.execPath}" "${TLSSH}" ${args.join(' ')} -q -t localhost 'exit 0'; echo QUIET=$?\r`);
      const quietStart = mark;
      mark = await waitFor(/QUIET=0/, mark);
      assert.doesNotMatch(out.slice(quietStart, mark), /Shared connection/);
      await waitFor(/OUTER\$ $/, mark);
      assert.equal(fs.readFileSync(path.join(fx.dir, 'after.stty'), 'utf8'), fs.readFileSync(path.join(fx.dir, 'before.stty'), 'utf8'), 'terminal modes restored');
    } finally {
      term.kill('SIGKILL');
    }
    assert.equal(await masterPid(args), pid, 'the same master still serves');
    const again = await runTlssh([...args, 'localhost', 'echo again']);
    assert.equal(again.stdout.toString(), 'again\n');
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
  });

  it('-O check answers with the pid, -O exit ends the master and its socket', async () => {
    const { args, socket } = shared('yes');
    const none = await runTlssh([...args, '-O', 'check', 'localhost']);
    assert.equal(none.status, 255);
    assert.match(none.stderr, /^Control socket connect\(.*\): No such file or directory$/m);
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    const exit = await runTlssh([...args, '-O', 'exit', 'localhost']);
    assert.equal(exit.status, 0, exit.stderr);
    assert.match(exit.stderr, /^Exit request sent\.$/m);
    await eventually('the master process ends', () => !isAlive(pid));
    assert.equal(fs.existsSync(socket), false, 'socket removed');
    assert.equal((await runTlssh([...args, '-O', 'check', 'localhost'])).status, 255);
    const cancel = await runTlssh([...args, '-O', 'cancel', 'localhost']);
    assert.equal(cancel.status, 255);
    assert.match(cancel.stderr, /forwardings/);
  });

  it('-O stop: the socket goes at once, a running session goes on, and the master ends after it', async () => {
    const { args, socket } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    const child = spawn(process.execPath, [TLSSH, ...args, 'localhost', 'echo started; read x; echo "got $x"'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = new Promise<number | null>((resolve) => child.once('close', (status) => resolve(status)));
    await eventually('the session started', () => out === 'started\n');
    const stop = await runTlssh([...args, '-O', 'stop', 'localhost']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.match(stop.stderr, /^Stop listening request sent\.$/m);
    await eventually('the socket is removed', () => !fs.existsSync(socket));
    assert.ok(isAlive(pid), 'the master waits for its session');
    child.stdin.end('more\n');
    // Once 255 in CI (at ef00ca3), not seen again in runs of its own: its words, should it recur.
    assert.equal(await done, 0, `tlssh said: ${stderr}\n${fx.server.logs().split('\n').slice(-15).join('\n')}`);
    assert.equal(out, 'started\ngot more\n');
    await eventually('the master ends after its last session', () => !isAlive(pid));
  });

  it('-O stop while a slow client still has output queued in the master: it gets all of it and the exit status', async () => {
    const { args } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    const child = spawn(process.execPath, [TLSSH, ...args, 'localhost', 'echo started; read x; head -c 1000000 /dev/zero; echo end'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = new Promise<number | null>((resolve) => child.once('close', (status) => resolve(status)));
    await eventually('the session started', () => Buffer.concat(chunks).toString() === 'started\n');
    // The client stops reading: the master's link to it holds what the session still writes.
    child.stdout.pause();
    const closedBefore = (fx.server.logs().match(/session closed: exit status 0/g) ?? []).length;
    assert.equal((await runTlssh([...args, '-O', 'stop', 'localhost'])).status, 0);
    child.stdin.end('go\n');
    await eventually('the remote command ended', () => (fx.server.logs().match(/session closed: exit status 0/g) ?? []).length > closedBefore);
    child.stdout.resume();
    assert.equal(await done, 0, stderr);
    assert.equal(Buffer.concat(chunks).length, 'started\n'.length + 1_000_000 + 'end\n'.length);
    await eventually('the master ends after its last session', () => !isAlive(pid));
  });

  it('bad bytes on the socket end only that client: the master and its other sessions carry on', async () => {
    const { args, socket } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    const { connect } = await import('node:net');
    for (const junk of [Buffer.from('GET / HTTP/1.0\r\n\r\n'), Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x01, 0, 0, 0, 2, 0x7b, 0x7d])]) {
      const reply = await new Promise<string>((resolve) => {
        const c = connect(socket);
        let got = '';
        c.on('data', (b: Buffer) => { got += b.subarray(5).toString(); });
        c.on('error', () => undefined);
        c.on('close', () => resolve(got));
        c.write(junk);
      });
      assert.match(reply, /TLSSH_ERR_CONTROL_PROTOCOL/, junk.toString('hex'));
    }
    assert.equal(await masterPid(args), pid);
    const r = await runTlssh([...args, 'localhost', 'echo still']);
    assert.equal(r.stdout.toString(), 'still\n');
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
  });

  it('stdin sent in the same write as the hello reaches the command: no round trip for the reply first', async () => {
    // The light client writes a command's stdin right behind its hello; the master holds those
    // frames until the session is confirmed and started, rather than refusing them.
    const { args, socket } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    await masterPid(args);
    const frame = (type: number, payload: Buffer): Buffer => {
      const head = Buffer.alloc(5);
      head[0] = type;
      head.writeUInt32BE(payload.length, 1);
      return Buffer.concat([head, payload]);
    };
    const hello = { v: 1, op: 'session', session: { command: 'cat; echo done', subsystem: false, pty: false, term: '', cols: 0, rows: 0, env: [] } };
    const { connect } = await import('node:net');
    const got = await new Promise<{ stdout: string; exit: string }>((resolve) => {
      const c = connect(socket);
      let buf = Buffer.alloc(0);
      let stdout = '';
      let exit = '';
      c.on('data', (b: Buffer) => {
        buf = Buffer.concat([buf, b]);
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          const type = buf[0];
          const payload = buf.subarray(5, 5 + buf.readUInt32BE(1));
          buf = buf.subarray(5 + payload.length);
          if (type === 0x82) stdout += payload.toString();
          else if (type === 0x84 || type === 0x85) exit += payload.toString();
        }
      });
      c.on('error', () => undefined);
      c.on('close', () => resolve({ stdout, exit }));
      c.write(Buffer.concat([frame(0x01, Buffer.from(JSON.stringify(hello))), frame(0x02, Buffer.from('early\n')), frame(0x03, Buffer.alloc(0))]));
    });
    assert.equal(got.stdout, 'early\ndone\n', got.exit);
    assert.deepEqual(JSON.parse(got.exit), { code: 0, signal: null });
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
  });

  it('a TPM key with a password: the master asks on the first client\'s terminal, and later sessions need neither TPM nor password', async (t) => {
    let tpm: Swtpm | undefined = await startSwtpm();
    t.after(() => tpm?.stop());
    const conf = await tpmClientConfig(fx, tpm, 'mux-tpm', 'mux secret');
    const socket = path.join(cmDir, `s${++n}`);
    const args = ['-F', conf, '-o', 'ControlMaster=auto', '-o', `ControlPath=${socket}`, '-o', 'ControlPersist=yes'];
    // A throw-away HOME: TPM logins may cache key contexts under ~/.tlssh.
    const env = { ...process.env, HOME: fx.dir, LANG: 'C' };
    const term = nodePty.spawn(process.execPath, [TLSSH, ...args, 'localhost', 'echo tpm-$((6*7))'], { name: 'xterm', cols: 80, rows: 24, cwd: fx.dir, env });
    let out = '';
    let answered = false;
    term.onData((d) => {
      out += d;
      if (!answered && out.includes('Enter password for TPM key')) {
        answered = true;
        term.write('mux secret\r');
      }
    });
    const code = await new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    assert.equal(code, 0, out);
    assert.ok(answered, out);
    assert.match(out, /tpm-42/);
    const pid = await masterPid(args);
    // The TPM is gone: only the master's connection can serve the next sessions, without a prompt.
    await tpm.stop();
    tpm = undefined;
    const r = await runTlssh([...args, 'localhost', 'echo no-tpm-needed'], { env, detached: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'no-tpm-needed\n');
    assert.equal(await masterPid(args), pid);
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
  });

  it('ControlMaster ask (-MM): shared sessions, -O exit and -O stop are confirmed through SSH_ASKPASS, the starting client\'s own session is not, as ssh does', async () => {
    // The master keeps the environment it started with, and so its SSH_ASKPASS.
    const asked = path.join(fx.dir, 'askpass-asked');
    const askYes = path.join(fx.dir, 'askpass-yes');
    fs.writeFileSync(askYes, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${asked}'\nexit 0\n`, { mode: 0o755 });
    const askNo = path.join(fx.dir, 'askpass-no');
    fs.writeFileSync(askNo, '#!/bin/sh\nexit 1\n', { mode: 0o755 });

    // A master whose askpass says no: its own first session runs all the same.
    const { args } = shared('yes', 'autoask');
    const own = await runTlssh([...args, 'localhost', 'echo own'], { env: { ...process.env, LANG: 'C', SSH_ASKPASS: askNo } });
    assert.equal(own.status, 0, own.stderr);
    assert.equal(own.stdout.toString(), 'own\n');
    const pid = await masterPid(args);
    const other = await runTlssh([...args, 'localhost', 'echo other']);
    assert.equal(other.status, 255, other.stderr);
    assert.match(other.stderr, /not confirmed/);
    assert.equal(other.stdout.toString(), '');
    for (const op of ['exit', 'stop']) {
      const refused = await runTlssh([...args, '-O', op, 'localhost']);
      assert.equal(refused.status, 255, refused.stderr);
      assert.match(refused.stderr, new RegExp(`${op} request refused`));
    }
    assert.equal(await masterPid(args), pid, '-O check is not put to the question, and the master is still there');
    process.kill(pid, 'SIGTERM');

    // A master whose askpass says yes, and records what it was asked.
    const { args: args2 } = shared('yes', 'autoask');
    const first = await runTlssh([...args2, 'localhost', 'echo first'], { env: { ...process.env, LANG: 'C', SSH_ASKPASS: askYes } });
    assert.equal(first.stdout.toString(), 'first\n', first.stderr);
    assert.equal(fs.existsSync(asked), false, 'the starting client\'s session was put to the question');
    const second = await runTlssh([...args2, 'localhost', 'echo second']);
    assert.equal(second.stdout.toString(), 'second\n', second.stderr);
    assert.equal((await runTlssh([...args2, '-O', 'exit', 'localhost'])).status, 0);
    assert.deepEqual(fs.readFileSync(asked, 'utf8').split('\n').filter(Boolean), [
      'Allow shared connection to localhost? (command: echo second)',
      'Terminate shared connection to localhost?',
    ]);
  });

  /** Bytes a late reader got from `head -c BYTES` through a master, and tlssh's status (3). */
  const lateReader = async (bytes: number, sleepSeconds: number): Promise<string> => {
    const { args } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    await masterPid(args);
    const quoted = [process.execPath, TLSSH, ...args, 'localhost', `head -c ${bytes} /dev/zero; exit 3`].map((a) => `'${a}'`).join(' ');
    const out = execFileSync('bash', ['-c', `${quoted} | (sleep ${sleepSeconds}; wc -c); echo "status \${PIPESTATUS[0]}"`], { encoding: 'utf8', timeout: WAIT_MS });
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
    return out.trim().split(/\s+/).join(' ');
  };

  it('a slow reader gets every byte, and the exit status after them', async () => {
    // The reader starts late: the output waits in the master while the command has long ended.
    assert.equal(await lateReader(3_000_000, 2), '3000000 status 3');
  });

  it('output still waiting for a full local pipe when the exit status arrives is written before tlssh exits', async () => {
    // A little more than a pipe holds (64 KiB): all of it and the exit status reach the light
    // client while its last write still waits for the reader, which starts a second later.
    assert.equal(await lateReader(100_000, 1), '100000 status 3');
  });

  it('a master started with -M -N, with no session, outlives the server\'s LoginGraceTime and serves later commands', async () => {
    // As ssh -MNf: the connection is logged in at once, not by its first session.
    const graced = await startFixture({ serverConfig: { LoginGraceTime: '1' } });
    try {
      const socket = path.join(cmDir, `s${++n}`);
      const args = ['-F', graced.configFile, '-S', socket, '-o', 'ControlPersist=yes'];
      const start = await runTlssh([...args, '-M', '-N', 'localhost']);
      assert.equal(start.status, 0, start.stderr);
      const pid = await masterPid(args);
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await masterPid(args), pid, 'the master is still there');
      const r = await runTlssh([...args, '-v', 'localhost', 'echo shared']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'shared\n');
      assert.match(r.stderr, new RegExp(`shared session started by master pid ${pid}`));
      assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
    } finally {
      await graced.stop();
    }
  });

  it('ssh -fNM\'s idiom: tlssh -f -N -M starts a master and returns; -f without a master to start is refused', async () => {
    const socket = path.join(cmDir, `s${++n}`);
    // No ControlPersist (no): a master started with -N stays until told, as ssh -fNM's does.
    const args = ['-F', fx.configFile, '-S', socket];
    const start = await runTlssh([...args, '-fNM', 'localhost']);
    assert.equal(start.status, 0, start.stderr);
    const pid = await masterPid(args);
    const r = await runTlssh([...args, 'localhost', 'echo fnm']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'fnm\n');
    assert.equal(await masterPid(args), pid);
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
    const alone = await runTlssh(['-F', fx.configFile, '-f', '-N', 'localhost']);
    assert.equal(alone.status, 255);
    assert.match(alone.stderr, /-f -N starts a connection-sharing master in the background: it needs -M/);
  });

  it('tlssh -fNM whose login the server refuses says why and returns 255, leaving no master', async () => {
    const socket = path.join(cmDir, `s${++n}`);
    const nobody = issueCert(fx.ca, { cn: 'tlssh-no-such-user-m', eku: 'clientAuth' });
    const args = ['-F', fx.configFile, '-S', socket, '-o', `CertFile=${nobody.certFile}`, '-o', `KeyFile=${nobody.keyFile}`];
    const start = await runTlssh([...args, '-fNM', 'localhost'], { killAfterMs: 30_000 });
    assert.equal(start.status, 255, start.stderr);
    assert.match(start.stderr, /no such user: tlssh-no-such-user-m/);
    assert.equal(fs.existsSync(socket), false, 'no socket left');
    // Another user than the certificate's is refused as well, before the server is asked.
    const mismatch = await runTlssh(['-F', fx.configFile, '-S', socket, '-fNM', 'someone-else@localhost'], { killAfterMs: 30_000 });
    assert.equal(mismatch.status, 255, mismatch.stderr);
    assert.match(mismatch.stderr, new RegExp(`certificate is for user ${fx.user}, not someone-else`));
  });

  it('a master started with a relative -F path reads it from the directory tlssh ran in', async () => {
    const socket = path.join(cmDir, `s${++n}`);
    const args = ['-F', path.basename(fx.configFile), '-S', socket, '-o', 'ControlPersist=yes'];
    const opts = { cwd: path.dirname(fx.configFile) };
    const start = await runTlssh([...args, '-M', '-N', 'localhost'], opts);
    assert.equal(start.status, 0, start.stderr);
    const r = await runTlssh([...args, 'localhost', 'echo relative'], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'relative\n');
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'], opts)).status, 0);
  });

  it('ControlPersist TIME: the master ends that long after its last session', async () => {
    const { args, socket } = shared('2s');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    await eventually('the master ends after ControlPersist', () => !isAlive(pid));
    assert.equal(fs.existsSync(socket), false);
  });

  it('a master killed under running sessions: they end with 255 and one line; its stale socket is replaced', async () => {
    const { args, socket } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    const sessions = [0, 1].map(() => {
      const child = spawn(process.execPath, [TLSSH, ...args, 'localhost', 'echo started; sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      const done = new Promise<number | null>((resolve) => child.once('close', (status) => resolve(status)));
      const killer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
      return { child, done: done.finally(() => clearTimeout(killer)), out: () => stdout, err: () => stderr };
    });
    await eventually('both sessions started', () => sessions.every((s) => s.out() === 'started\n'));
    process.kill(pid, 'SIGKILL');
    for (const s of sessions) {
      assert.equal(await s.done, 255);
      const lines = s.err().trim().split('\n');
      assert.equal(lines.length, 1, s.err());
      assert.match(lines[0]!, /^tlssh: the connection-sharing master at .* went away; session ended$/);
    }
    // The socket file is left behind by the kill; the next client replaces it with a new master.
    assert.ok(fs.existsSync(socket));
    const next = await runTlssh([...args, 'localhost', 'echo new']);
    assert.equal(next.status, 0, next.stderr);
    assert.equal(next.stdout.toString(), 'new\n');
    assert.notEqual(await masterPid(args), pid);
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
  });

  it('a master gives up on a server that stops answering after ServerAliveCountMax keepalives, and its sessions say why', async () => {
    const { args } = shared('yes');
    const child = spawn(process.execPath, [TLSSH, ...args, '-o', 'Keepalive=1', '-o', 'ServerAliveCountMax=1', 'localhost', 'echo started; sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const done = new Promise<number | null>((resolve) => child.once('close', (status) => resolve(status)));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    masters.add(await masterPid(args));
    // The TCP connection stays up, but nothing behind it answers.
    const frozen = freezeWorkers(fx.server);
    try {
      assert.equal(await done, 255);
      // 1, not the default 3: the master's connection counts what the config says.
      assert.match(stderr, /connection to localhost lost: peer did not answer 1 keepalives in 1 seconds/, stderr);
    } finally {
      frozen.kill();
    }
  });

  it('refuses a ControlPath directory others can enter, and connects directly instead (as ssh)', async () => {
    const open = path.join(fx.dir, 'open');
    fs.mkdirSync(open, { mode: 0o755 });
    fs.chmodSync(open, 0o755);
    const socket = path.join(open, 's');
    const r = await runTlssh(['-F', fx.configFile, '-o', 'ControlMaster=auto', '-o', `ControlPath=${socket}`, '-o', 'ControlPersist=yes', 'localhost', 'echo direct']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'direct\n');
    assert.match(r.stderr, /ControlPath directory .* is open to other users \(mode 0755\)/);
    assert.equal(fs.existsSync(socket), false);
  });

  it('never uses a socket in a directory others may write: a planted master gets nothing, and -O fails', async () => {
    const open = path.join(fx.dir, 'planted');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const socket = path.join(open, 's');
    // What another user could put there: something that listens and takes whatever comes.
    let connections = 0;
    const fake = net.createServer((c) => {
      connections++;
      c.resume();
    });
    await new Promise<void>((resolve) => fake.listen(socket, resolve));
    try {
      for (const mode of ['no', 'auto']) {
        const r = await runTlssh(['-F', fx.configFile, '-o', `ControlMaster=${mode}`, '-o', `ControlPath=${socket}`, 'localhost', 'cat'], { input: 'a password\n' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.toString(), 'a password\n');
        assert.match(r.stderr, new RegExp(`^tlssh: ControlPath directory ${open} is open to other users \\(mode 0777\\): run chmod 700 ${open}; connecting without sharing$`, 'm'), mode);
      }
      const check = await runTlssh(['-F', fx.configFile, '-S', socket, '-O', 'check', 'localhost']);
      assert.equal(check.status, 255);
      assert.match(check.stderr, /ControlPath directory .* is open to other users/);
      assert.equal(connections, 0);
    } finally {
      fake.close();
    }
  });

  it('a ControlPath too long for a socket is an error with 255, as in ssh, for -M, auto and -fNM alike', async () => {
    const long = path.join(cmDir, 'x'.repeat(120));
    for (const extra of [['-M'], ['-o', 'ControlMaster=auto'], ['-f', '-N', '-M']]) {
      const r = await runTlssh(['-F', fx.configFile, ...extra, '-S', long, 'localhost', ...(extra.includes('-N') ? [] : ['echo ran'])]);
      assert.equal(r.status, 255, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /ControlPath .* is too long for a Unix socket/, extra.join(' '));
      assert.equal(r.stdout.toString(), '', `${extra.join(' ')} ran the command anyway`);
    }
  });

  it('serves only its own uid: another user at the socket is refused (SO_PEERCRED) and the master carries on', { skip: !isRoot && 'needs root to run a client as another user' }, async (t) => {
    let other: TestUser | undefined;
    t.after(() => other?.remove());
    other = createTestUser('muxcli');
    const { args, socket } = shared('yes');
    assert.equal((await runTlssh([...args, 'localhost', 'true'])).status, 0);
    const pid = await masterPid(args);
    // Only the directory keeps others out in normal use; open it, so the kernel's word is all that is left.
    const fixtureMode = fs.statSync(fx.dir).mode & 0o777;
    fs.chmodSync(fx.dir, 0o711);
    fs.chmodSync(cmDir, 0o755);
    fs.chmodSync(socket, 0o666);
    try {
      // tlssh itself no longer connects there (the directory is open: see the test above), so the
      // other user speaks the control protocol with the project's own frame code.
      const frames = path.resolve(__dirname, '..', '..', 'src', 'client', 'mux-frames.js');
      const script = `const m = require(process.argv[1]); const s = require('node:net').connect(process.argv[2]);
        s.on('connect', () => s.write(m.encodeJson(m.MUX.hello, { v: m.MUX_VERSION, op: 'check' })));
        let got = ''; s.on('data', (b) => { got += b.toString('latin1'); }); s.on('close', () => process.stdout.write(got));
        s.on('error', (e) => { process.stdout.write('error ' + e.code); });`;
      const reply = execFileSync('runuser', ['-u', other.name, '--', process.execPath, '-e', script, frames, socket], { encoding: 'latin1', cwd: '/', timeout: WAIT_MS });
      assert.match(reply, /this master serves only uid 0/);
      // And tlssh as that user does not even try: the directory is not theirs.
      let stderr = '';
      try {
        execFileSync('runuser', ['-u', other.name, '--', process.execPath, TLSSH, '-F', '/dev/null', '-S', socket, '-O', 'check', 'localhost'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/', timeout: WAIT_MS });
      } catch (e) {
        stderr = (e as { stderr: Buffer }).stderr.toString();
      }
      assert.match(stderr, /ControlPath directory .* belongs to uid 0, not to you \(\d+\): use a directory of your own, mode 0700, such as ~\/\.tlssh\/cm$/m);
    } finally {
      fs.chmodSync(cmDir, 0o700);
      fs.chmodSync(fx.dir, fixtureMode);
    }
    assert.equal(await masterPid(args), pid, 'the master carries on');
    assert.equal((await runTlssh([...args, '-O', 'exit', 'localhost'])).status, 0);
  });
});
