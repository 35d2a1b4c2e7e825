// tlsshctl against a real tlsshd: the control socket lists live sessions with their certificate,
// ends them by id, user or serial (the real tlssh prints the message and exits 255 with
// TLSSH_ERR_SESSION_KILLED), reloads, and shrugs off bad requests.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_KILL_MESSAGE, type SessionView } from '../../src/server/control-protocol';
import { makeCa } from '../helpers/ca';
import { startTlsshd, writeConfig } from '../helpers/server-harness';
import { TLSSHCTL, controlSessions, ctl, waitForControlSessions } from './tlsshctl-client';
import { TLSSH, errorCodeOf, runTlssh, startFixture, type ClientFixture } from './client-fixture';

interface Ended {
  status: number | null;
  stderr: string;
}

/**
 * A tlssh running `sleep 1000` until the test ends it. `ready` resolves once the remote shell has
 * started the command: ending a session while the user's shell start-up files still run could
 * leave their locks behind (pyenv's rehash lock did, stalling every later root login).
 */
function longSession(configFile: string, extra: string[] = [], command = 'echo ready; exec sleep 1000'): { child: ChildProcess; ended: Promise<Ended>; ready: Promise<void> } {
  const child = spawn(process.execPath, [TLSSH, '-c', configFile, ...extra, 'localhost', command], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  let out = '';
  const ready = new Promise<void>((resolve) => child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('ready\n')) resolve();
  }));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const ended = new Promise<Ended>((resolve) => child.once('close', (status) => {
    clearTimeout(killer);
    resolve({ status, stderr });
  }));
  return { child, ended, ready };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('tlsshctl and the control socket', () => {
  let fx: ClientFixture;
  let conf: string[];
  let socketPath: string;

  const sessions = (): Promise<SessionView[]> => controlSessions(conf);
  const waitForSessions = (n: number): Promise<SessionView[]> => waitForControlSessions(conf, n);

  before(async () => {
    fx = await startFixture();
    conf = ['-c', fx.server.configFile];
    socketPath = path.join(fx.dir, 'run', 'control.sock');
  });
  after(async () => {
    await fx?.stop();
  });

  it('makes the socket mode 0600', () => {
    const st = fs.statSync(socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('lists a live session with its certificate, command, source and worker', async () => {
    const s = longSession(fx.configFile);
    try {
      await s.ready;
      const [v] = await waitForSessions(1);
      assert.ok(v);
      const cert = new X509Certificate(fs.readFileSync(fx.client.certFile));
      assert.equal(v.user, fx.user);
      assert.equal(v.kind, 'command');
      assert.equal(v.command, 'echo ready; exec sleep 1000');
      assert.match(v.remote, /^127\.0\.0\.1 port \d+$/);
      assert.equal(v.serial, cert.serialNumber.toUpperCase());
      assert.equal(v.fingerprint, cert.fingerprint256);
      assert.equal(new Date(v.notAfter ?? '').getTime(), new Date(cert.validTo).getTime());
      assert.ok(fx.server.workerPids().includes(v.pid), `pid ${v.pid} is not a worker`);
      assert.ok(!Number.isNaN(new Date(v.started).getTime()));
      const table = await ctl([...conf, 'sessions']);
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`^${v.id}\\s+${fx.user}\\s+echo ready; exec sleep 1000\\s+127\\.0\\.0\\.1:`, 'm'));
    } finally {
      s.child.kill('SIGKILL');
      await s.ended;
    }
  });

  it('prints what a client sent (its command) with controls and bidirectional overrides replaced, in the table and in --json', async () => {
    const command = 'echo ready; exec sleep 1000 # \u009b2J\u202eevil\u0085';
    const s = longSession(fx.configFile, [], command);
    try {
      await s.ready;
      const [v] = await waitForSessions(1);
      // --json keeps the value (as \\u escapes) but writes none of them raw.
      assert.equal(v?.command, command);
      const json = await ctl([...conf, 'sessions', '--json']);
      assert.doesNotMatch(json.stdout, /[\u0080-\u009f\u202a-\u202e]/, json.stdout);
      const table = await ctl([...conf, 'sessions']);
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /exec sleep 1000 # \?2J\?evil\?/);
      assert.doesNotMatch(table.stdout, /[\u0080-\u009f\u202a-\u202e]/, table.stdout);
    } finally {
      s.child.kill('SIGKILL');
      await s.ended;
    }
  });

  it('kill ID: tlssh prints the message and exits 255 with TLSSH_ERR_SESSION_KILLED', async () => {
    const s = longSession(fx.configFile, ['-v']);
    await s.ready;
    const [v] = await waitForSessions(1);
    assert.ok(v);
    const r = await ctl([...conf, 'kill', String(v.id), '--message', 'maintenance at noon']);
    assert.equal(r.status, 0, r.stderr);
    const e = await s.ended;
    assert.equal(e.status, 255, e.stderr);
    assert.match(e.stderr, /maintenance at noon/);
    assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_SESSION_KILLED', e.stderr);
    await waitForSessions(0);
    const again = await ctl([...conf, 'kill', String(v.id)]);
    assert.equal(again.status, 255);
    assert.match(again.stderr, /^tlsshctl: kill: .*no-such-session/);
  });

  it('kill --user ends every session of that user', async () => {
    const a = longSession(fx.configFile, ['-v']);
    const b = longSession(fx.configFile, ['-v']);
    await Promise.all([a.ready, b.ready]);
    await waitForSessions(2);
    const r = await ctl([...conf, 'kill', '--user', fx.user]);
    assert.equal(r.status, 0, r.stderr);
    for (const e of [await a.ended, await b.ended]) {
      assert.equal(e.status, 255, e.stderr);
      assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_SESSION_KILLED', e.stderr);
    }
  });

  it('kill --serial ends the sessions of that certificate', async () => {
    const s = longSession(fx.configFile, ['-v']);
    await s.ready;
    const [v] = await waitForSessions(1);
    assert.ok(v?.serial);
    const none = await ctl([...conf, 'kill', '--serial', 'ABCDEF0123']);
    assert.equal(none.status, 255);
    const r = await ctl([...conf, 'kill', '--serial', v.serial.toLowerCase()]);
    assert.equal(r.status, 0, r.stderr);
    const e = await s.ended;
    assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_SESSION_KILLED', e.stderr);
  });

  it('answers malformed requests with an error and keeps serving', async () => {
    const replies = await new Promise<string[]>((resolve, reject) => {
      const c = net.createConnection(socketPath);
      let buf = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => (buf += d));
      c.on('error', reject);
      c.on('close', () => resolve(buf.trim().split('\n')));
      // A daemon that never answers (or never closes) fails the test instead of hanging it.
      c.setTimeout(20_000, () => c.destroy());
      c.write('not json\n{"v":2,"op":"status"}\n{"v":1,"op":"explode"}\n[1]\n{"v":1,"op":"kill","id":-1}\n');
      c.write(`${'x'.repeat(70 * 1024)}\n`);
    });
    const errors = replies.map((l) => (JSON.parse(l) as { ok: boolean; error?: string }));
    assert.deepEqual(errors.map((e) => e.error), ['bad-json', 'bad-version', 'unknown-op', 'bad-request', 'bad-request', 'too-long']);
    assert.ok(errors.every((e) => e.ok === false));
    const st = await ctl([...conf, 'status']);
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /^sessions: 0/m);
    assert.match(st.stdout, /^TPM key agent: none \(the server key is not in a TPM\)$/m);
    const login = await runTlssh(['-c', fx.configFile, 'localhost', 'echo still-serving']);
    assert.equal(login.status, 0, login.stderr);
    assert.equal(login.stdout.toString(), 'still-serving\n');
  });

  it('reload takes a changed config, and refuses a bad one keeping the old', async () => {
    const original = fs.readFileSync(fx.server.configFile, 'utf8');
    try {
      fs.writeFileSync(fx.server.configFile, original.replace(/^PermitRootLogin .*$/m, '') + 'NoSuchKeyword yes\n');
      const bad = await ctl([...conf, 'reload']);
      assert.equal(bad.status, 255);
      assert.match(bad.stderr, /^tlsshctl: reload: keeping the old configuration: .*NoSuchKeyword/);
      assert.equal((await runTlssh(['-c', fx.configFile, 'localhost', 'true'])).status, 0);

      writeConfig(fx.server.configFile, { ...parseConf(original), PermitRootLogin: 'no' });
      const ok = await ctl([...conf, 'reload']);
      assert.equal(ok.status, 0, ok.stderr);
      const refused = await runTlssh(['-v', '-c', fx.configFile, 'localhost', 'true']);
      assert.equal(refused.status, 255);
      assert.equal(errorCodeOf(refused.stderr), 'TLSSH_ERR_ROOT_LOGIN_REFUSED', refused.stderr);
    } finally {
      fs.writeFileSync(fx.server.configFile, original);
      await ctl([...conf, 'reload']);
    }
  });

  describe('tlsshctl top, in a real terminal (tmux)', () => {
    // A tmux server of its own per test (-L): killing a test's last session ends its server, and a
    // next test that reached a shared server while it was exiting failed with "server exited
    // unexpectedly".
    const tmux = (name: string, ...args: string[]): string => execFileSync('tmux', ['-L', name, ...args], { encoding: 'utf8' });
    /** In `finally`: a session already gone must not hide the test's own failure. */
    const killSession = (name: string): void => {
      try {
        tmux(name, 'kill-session', '-t', name);
      } catch {
        // its server has ended with it
      }
      // tmux leaves the ended server's socket behind.
      fs.rmSync(path.join(process.env['TMUX_TMPDIR'] ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, name), { force: true });
    };
    const pane = (name: string): string => tmux(name, 'capture-pane', '-p', '-t', name);
    /** Polls the screen (bounded, not timed) until `re` shows. */
    const waitForScreen = async (name: string, re: RegExp): Promise<string> => {
      for (let i = 0; i < 300; i++) {
        const text = pane(name);
        if (re.test(text)) return text;
        await sleep(100);
      }
      assert.fail(`never saw ${String(re)} on the screen:\n${pane(name)}`);
    };
    const startTop = (name: string): void => {
      const cmd = `${process.execPath} ${TLSSHCTL} -c ${fx.server.configFile} top; echo EXIT=$?; sleep 600`;
      tmux(name, 'new-session', '-d', '-s', name, '-x', '80', '-y', '24', cmd);
    };

    it('shows the session in 80x24, ends it with k after a confirmation, and q gives the terminal back', async () => {
      const name = `ctltop-${process.pid}`;
      const s = longSession(fx.configFile, ['-v']);
      try {
        await s.ready;
        await waitForSessions(1);
        startTop(name);
        const screen = await waitForScreen(name, /echo ready;/);
        assert.match(screen, /^\s+ID USER\s+TTY\/CMD\s+FROM\s+AGE\s+IDLE\s+IN\s+OUT\s+PID/m);
        assert.match(screen, new RegExp(`^\\s+\\d+ ${fx.user}\\s+echo ready;\\s+127\\.0\\.0\\.1 `, 'm'));
        assert.match(screen, /certificate: CN=/);
        assert.match(screen, /1\/1 sessions/);
        // The status line: login rate and the key agent (none here: a PEM server key).
        assert.match(screen, /logins\/min \d+\.\d +TPM none/);
        // The detail pane's process tree, from /proc: the worker, then the command under it (the
        // border is │, or x where tmux draws it with the VT100 line set).
        const [v] = await sessions();
        assert.ok(v);
        const tree = await waitForScreen(name, /^\s*[│x]?\s+\d+ sleep 1000/m);
        assert.match(tree, new RegExp(`^\\s*[│x]?\\s+${v.pid} tlsshd`, 'm'), tree);
        tmux(name, 'send-keys', '-t', name, 'k');
        await waitForScreen(name, /End session \d+ of/);
        tmux(name, 'send-keys', '-t', name, 'y');
        const e = await s.ended;
        assert.equal(e.status, 255, e.stderr);
        assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_SESSION_KILLED', e.stderr);
        await waitForScreen(name, /0\/0 sessions/);
        tmux(name, 'send-keys', '-t', name, 'q');
        const after = await waitForScreen(name, /EXIT=0/);
        // The alternate screen is gone: nothing of the monitor is left on the terminal.
        assert.doesNotMatch(after, /TTY\/CMD|sessions/);
      } finally {
        s.child.kill('SIGKILL');
        await s.ended;
        killSession(name);
      }
    });

    it('gives the terminal back on SIGTERM', async () => {
      const name = `ctltop-term-${process.pid}`;
      try {
        startTop(name);
        await waitForScreen(name, /0\/0 sessions/);
        const shell = Number(tmux(name, 'display-message', '-p', '-t', name, '#{pane_pid}').trim());
        const top = Number(execFileSync('pgrep', ['-P', String(shell), '-f', 'tlsshctl'], { encoding: 'utf8' }).trim().split('\n')[0]);
        process.kill(top, 'SIGTERM');
        const after = await waitForScreen(name, /EXIT=\d+/);
        assert.match(after, /EXIT=255/);
        assert.doesNotMatch(after, /TTY\/CMD|sessions/);
      } finally {
        killSession(name);
      }
    });

    it('without a terminal fails with one clear line', async () => {
      const r = await ctl([...conf, 'top']);
      assert.equal(r.status, 255);
      assert.equal(r.stderr, 'tlsshctl: top needs a terminal on stdin and stdout; use tlsshctl sessions instead\n');
    });
  });

  it('fails with one line and 255 when no daemon listens there', async () => {
    const r = await ctl(['-S', path.join(fx.dir, 'nothing.sock'), 'status']);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /^tlsshctl: .*nothing\.sock: no such socket.*\n$/);
  });

  // Last: the fixture's own listener is gone after it.
  it('a restarted listener lists the sessions of the one before it, ends them on kill and on the re-check of a reload (SIGUSR2)', async () => {
    const s = longSession(fx.configFile, ['-v']);
    // A second one, killed without a message of the administrator's.
    const s2 = longSession(fx.configFile, [], 'echo ready; exec sleep 1001');
    // And one on a terminal, whose login record (utmp) the new listener must adopt too.
    const t = spawn(process.execPath, [TLSSH, '-tt', '-c', fx.configFile, 'localhost', 'echo ready; exec sleep 1000'], { stdio: ['pipe', 'pipe', 'pipe'] });
    // A bound against a hang, never a timing assertion: SIGKILL makes the status null.
    const tKiller = setTimeout(() => t.kill('SIGKILL'), 60_000);
    const tEnded = new Promise<number | null>((resolve) => t.once('close', (code) => {
      clearTimeout(tKiller);
      resolve(code);
    }));
    let second: Awaited<ReturnType<typeof startTlsshd>> | undefined;
    try {
      await s.ready;
      await s2.ready;
      await new Promise<void>((resolve) => {
        let out = '';
        t.stdout?.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('ready')) resolve();
        });
      });
      const listed = await waitForSessions(3);
      const before = listed.find((x) => x.tty === undefined && !x.command?.includes('1001'));
      const plain = listed.find((x) => x.command?.includes('1001'));
      assert.ok(plain);
      assert.ok(before);
      // The listener goes; the worker and its session stay. A new one starts on the same RuntimeDir.
      await fx.server.stop({ keepSessions: true });
      second = await startTlsshd({ dir: fx.dir, config: parseConf(fs.readFileSync(fx.server.configFile, 'utf8')) });
      await second.waitForLog(/adopted 3 session\(s\) of an earlier listener/);
      await second.waitForLog(/watching session of \S+ on pts\/\d+ \(pid \d+\) started by an earlier listener/);
      assert.doesNotMatch(second.logs(), /not a tlsshd worker/);
      const conf2 = ['-c', second.configFile];
      const r = await ctl([...conf2, 'sessions', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const all = (JSON.parse(r.stdout) as { sessions: SessionView[] }).sessions;
      assert.equal(all.length, 3, r.stdout);
      const v = all.find((x) => x.id === before.id);
      assert.ok(v, r.stdout);
      assert.equal(v.adopted, true);
      for (const k of ['id', 'pid', 'user', 'serial', 'fingerprint', 'notAfter', 'command', 'remote'] as const) assert.equal(v[k], before[k], k);
      // No line reaches a worker of the earlier listener: its client gets the default text, and
      // the administrator who asked for another is told so, with the kill still done.
      const k = await ctl([...conf2, 'kill', String(v.id), '--message', 'back at five']);
      assert.equal(k.status, 0, k.stderr);
      assert.equal(k.stdout, `ended session ${v.id}\n`);
      assert.equal(k.stderr, `tlsshctl: kill: session ${v.id} started under an earlier tlsshd, and this one has no line to its worker to pass your message on: its client was told "${DEFAULT_KILL_MESSAGE}"\n`);
      const e = await s.ended;
      assert.equal(e.status, 255, e.stderr);
      assert.equal(errorCodeOf(e.stderr), 'TLSSH_ERR_SESSION_KILLED', e.stderr);
      assert.match(e.stderr, new RegExp(DEFAULT_KILL_MESSAGE));
      assert.doesNotMatch(e.stderr, /back at five/);
      // Without --message the default text is what was asked for: nothing to warn about.
      const k2 = await ctl([...conf2, 'kill', String(plain.id)]);
      assert.equal(k2.status, 0, k2.stderr);
      assert.deepEqual([k2.stdout, k2.stderr], [`ended session ${plain.id}\n`, '']);
      const e2 = await s2.ended;
      assert.equal(e2.status, 255, e2.stderr);
      assert.match(e2.stderr, new RegExp(DEFAULT_KILL_MESSAGE));
      // A reload re-checks the other adopted session: with another CA only, it no longer chains.
      const caFile = /^ClientCAFile (.*)$/m.exec(fs.readFileSync(second.configFile, 'utf8'))?.[1] ?? '';
      const savedCa = fs.readFileSync(caFile);
      try {
        fs.copyFileSync(makeCa(path.join(fx.dir, 'other-ca'), 'another CA').certFile, caFile);
        assert.equal((await ctl([...conf2, 'reload'])).status, 0);
        await second.waitForLog(/\(worker \d+, adopted\): TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION: /);
        assert.equal(await tEnded, 255);
      } finally {
        fs.writeFileSync(caFile, savedCa);
      }
    } finally {
      s.child.kill('SIGKILL');
      s2.child.kill('SIGKILL');
      t.kill('SIGKILL');
      await Promise.all([s.ended, s2.ended, tEnded]);
      await second?.stop();
    }
  });
});

function parseConf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}
