// The real bin/tlssh against a real tlsshd on 127.0.0.1, without a terminal: exit statuses,
// stream separation, stdin EOF, binary safety, large streams, and the failures that must end in
// exactly one line and status 255.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants, userInfo } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NO_TTY_WARNING } from '../../src/client/pty-decision';
import { freezeWorkers } from '../helpers/server-harness';
import { TLSSH, errorCodeOf, failureLines, runTlssh, startFixture, type ClientFixture } from './client-fixture';

describe('tlssh running commands', () => {
  let fx: ClientFixture;
  let conf: string[];
  before(async () => {
    fx = await startFixture();
    conf = ['-c', fx.configFile];
  });
  after(async () => {
    await fx?.stop();
  });

  it('exits with the remote status: 0, 1 and 42', async () => {
    for (const code of [0, 1, 42]) {
      const r = await runTlssh([...conf, 'localhost', `exit ${code}`]);
      assert.equal(r.status, code, r.stderr);
      assert.equal(r.stderr, '');
    }
  });

  it('exits 128+N when the remote command dies of signal N', async () => {
    const r = await runTlssh([...conf, 'localhost', 'kill -TERM $$']);
    assert.equal(r.status, 128 + constants.signals.SIGTERM, r.stderr);
    const k = await runTlssh([...conf, 'localhost', 'kill -KILL $$']);
    assert.equal(k.status, 128 + constants.signals.SIGKILL, k.stderr);
  });

  it('SIGUSR1 ends tlssh as SIGTERM does (rsync sends it), and never opens Node\'s inspector', async () => {
    const child = spawn(process.execPath, [TLSSH, ...conf, 'localhost', 'echo started; exec sleep 60'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const ended = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('started\n')) resolve();
    }));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.kill('SIGUSR1');
    const code = await ended;
    clearTimeout(killer);
    assert.equal(code, 255, err);
    assert.doesNotMatch(err, /Debugger|inspector/i);
  });

  it('runs the session in a worker started without NODE_EXTRA_CA_CERTS', async () => {
    // The fixture gives the daemon the variable; the command's parent is the session's worker.
    const r = await runTlssh([...conf, 'localhost', "tr '\\0' ' ' </proc/$PPID/cmdline; echo; tr '\\0' '\\n' </proc/$PPID/environ | grep -c '^NODE_EXTRA_CA_CERTS=' || true"]);
    assert.equal(r.status, 0, r.stderr);
    const [cmdline, count] = r.stdout.toString().split('\n');
    // The worker's title replaces its command line (the bundle itself is checked in code-cache).
    assert.match(cmdline ?? '', /^tlsshd: \S+ \[cmd\]/);
    assert.equal(count, '0');
  });

  it('keeps stdout and stderr apart', async () => {
    const r = await runTlssh([...conf, 'localhost', 'echo to-out; echo to-err >&2; echo more-out']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.toString(), 'to-out\nmore-out\n');
    assert.equal(r.stderr, 'to-err\n');
  });

  it('passes options after the host to the remote command (`host echo -n x`)', async () => {
    const r = await runTlssh([...conf, 'localhost', 'echo', '-n', 'x', 'y']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'x y');
  });

  it('forwards stdin and its end of file (`tlssh host cat`)', async () => {
    const r = await runTlssh([...conf, 'localhost', 'cat; echo after-eof'], { input: 'line one\nline two\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'line one\nline two\nafter-eof\n');
  });

  it('is binary safe: all 256 byte values survive a round trip', async () => {
    const all = Buffer.alloc(256 * 4);
    for (let i = 0; i < all.length; i++) all[i] = i & 0xff;
    const r = await runTlssh([...conf, 'localhost', 'cat'], { input: all });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout, all);
  });

  it('streams tens of megabytes both ways through cat intact', async () => {
    const data = randomBytes(24 * 1024 * 1024);
    const r = await runTlssh([...conf, 'localhost', 'cat'], { input: data });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, data.length);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('uploads and downloads large streams with the remote side checking', async () => {
    const data = randomBytes(32 * 1024 * 1024);
    const up = await runTlssh([...conf, 'localhost', 'sha256sum'], { input: data });
    assert.equal(up.status, 0, up.stderr);
    assert.equal(up.stdout.toString().split(' ')[0], createHash('sha256').update(data).digest('hex'));
    const size = 48 * 1024 * 1024;
    const down = await runTlssh([...conf, 'localhost', `head -c ${size} /dev/zero`]);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(down.stdout.length, size);
    assert.ok(down.stdout.every((b) => b === 0));
  });

  it('runs like cron: no tty anywhere, stdin /dev/null, stdout to a file', async () => {
    const outFile = path.join(fx.dir, 'cron.out');
    const fd = fs.openSync(outFile, 'w');
    try {
      const r = await runTlssh([...conf, 'localhost', 'echo cron-ok; tty; exit 7'], { detached: true, stdio: ['ignore', fd, 'pipe'] });
      assert.equal(r.status, 7, r.stderr);
      assert.equal(r.stderr, '');
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(fs.readFileSync(outFile, 'utf8'), 'cron-ok\nnot a tty\n');
  });

  it('writes a pipe stdout through its own non-blocking description, leaving the shared one alone', () => {
    // tlssh in the background of a shell pipeline; once the first line is through, the reader
    // looks at tlssh's descriptors: fd 1 (the description shared with the shell) must still be
    // blocking, and another descriptor of the same pipe, tlssh's own, non-blocking (O_NONBLOCK is
    // 04000 in fdinfo's octal flags). Then the rest of the output must arrive whole.
    const script = [
      '{ "$@" & echo $! >"$PIDFILE"; wait; } | {',
      '  IFS= read -r first; pid=$(cat "$PIDFILE"); shared=$(readlink /proc/$pid/fd/1)',
      '  flags() { sed -n "s/^flags:[[:space:]]*//p" /proc/$pid/fdinfo/$1; }',
      '  own=none; for f in /proc/$pid/fd/*; do n=${f##*/}; [ "$n" != 1 ] && [ "$(readlink $f)" = "$shared" ] && own=$(flags $n); done',
      '  echo "$first shared=$(flags 1) own=$own"; wc -c; }',
    ].join('\n');
    const r = spawnSync('sh', ['-c', script, 'sh', process.execPath, TLSSH, ...conf, 'localhost', 'echo first; sleep 1; head -c 3000000 /dev/zero'], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, PIDFILE: path.join(fx.dir, 'pipe-test.pid') },
    });
    assert.equal(r.status, 0, r.stderr);
    const m = /^first shared=(\d+) own=(\d+|none)\n\s*(\d+)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(parseInt(m[1] ?? '', 8) & 0o4000, 0, 'the shared description was made non-blocking');
    assert.notEqual(m[2], 'none', 'no descriptor of its own for the pipe');
    assert.equal(parseInt(m[2] ?? '', 8) & 0o4000, 0o4000);
    assert.equal(m[3], '3000000');
  });

  it('writes a file stdout whole, in order', async () => {
    const outFile = path.join(fx.dir, 'big.out');
    const fd = fs.openSync(outFile, 'w');
    let r;
    try {
      r = await runTlssh([...conf, 'localhost', 'seq 1 400000'], { stdio: ['ignore', fd, 'pipe'] });
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(r.status, 0, r.stderr);
    const want = Array.from({ length: 400000 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal(fs.readFileSync(outFile, 'utf8') === want, true, 'the file differs from seq 1 400000');
  });

  it('-tt: 300 kB of input for a terminal that reads it only later arrives whole', async () => {
    // The terminal's input queue fills while the command sleeps: the server's writes to it then
    // wait (EAGAIN) and go on once `head` reads, without losing or repeating a byte.
    const line = `${'a'.repeat(99)}\n`;
    const r = await runTlssh([...conf, '-tt', 'localhost', 'sleep 1; head -n 3000 | wc -c'], { input: line.repeat(3000) });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.toString();
    // The count is what proves the input whole. The terminal's echo of it is not: Linux's line
    // discipline drops echoes when its echo buffer overruns under load, so the count may follow a
    // cut echo line ("aaa300000"). The tail says what went wrong otherwise.
    assert.match(out, /\D300000\r?\n$/, `${out.length} bytes of output, ending ${JSON.stringify(out.slice(-160))}`);
  });

  it('-n reads nothing from stdin', async () => {
    const r = await runTlssh([...conf, '-n', 'localhost', 'cat; echo end'], { input: 'must not arrive\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'end\n');
  });

  it('warns like ssh when -t is given without a terminal, and runs without one', async () => {
    const r = await runTlssh([...conf, '-t', 'localhost', 'tty; true']);
    assert.equal(r.status, 0);
    assert.equal(r.stderr.trim(), NO_TTY_WARNING);
    assert.equal(r.stdout.toString(), 'not a tty\n');
  });

  it('runs a command\'s shell under its name, not its path, as sshd: "bash: line 1: ..." with and without a terminal', async () => {
    const shell = userInfo().shell ?? '/bin/bash';
    const name = path.basename(shell);
    for (const tty of [[], ['-tt']]) {
      const r = await runTlssh([...conf, ...tty, 'localhost', 'echo "argv0=$0"; nosuch-command-xyz']);
      assert.equal(r.status, 127, r.stderr);
      const text = r.stdout.toString() + r.stderr;
      assert.match(text, new RegExp(`^argv0=${name}\\r?$`, 'm'), text);
      assert.match(text, new RegExp(`^${name}: line 1: nosuch-command-xyz: command not found`, 'm'), text);
    }
  });

  it('logs in to an ssh:// destination, its port winning over the configuration\'s', async () => {
    const me = userInfo().username;
    const r = await runTlssh(['-F', fx.configFile, '-o', 'Port=1', `ssh://${me}@localhost:${fx.server.port}/`, 'id', '-un']);
    assert.equal(r.status, 255, 'a -o Port typed wins over the URI, as in ssh');
    const wrongPort = path.join(fx.dir, 'wrong-port.conf');
    const text = fs.readFileSync(fx.configFile, 'utf8');
    assert.match(text, /^Port \d+$/m);
    fs.writeFileSync(wrongPort, text.replace(/^Port .*$/m, 'Port 1'), { mode: 0o600 });
    const ok = await runTlssh(['-F', wrongPort, `ssh://${me}@localhost:${fx.server.port}/`, 'id', '-un']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.toString(), `${me}\n`);
  });

  it('says the remote host closed the connection when its worker dies mid-command, and exits 255', async () => {
    const child = spawn(process.execPath, [TLSSH, ...conf, 'localhost', 'echo started; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const status = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const before = new Set(fx.server.workerPids());
    for (const pid of before) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    assert.equal(await status, 255);
    assert.equal(stderr, 'tlssh: connection to localhost closed by remote host, without an exit status\n');
  });

  it('-tt forces a remote pseudo-terminal even without a local one', async () => {
    const r = await runTlssh([...conf, '-tt', 'localhost', 'tty >/dev/null && echo is-a-tty; echo "size=$(stty size)"']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /is-a-tty\r?\n/);
    // No local terminal to take a size from: 0x0, as ssh sends, and not a made-up 80x24.
    assert.match(r.stdout.toString(), /size=0 0\r?\n/);
  });

  it('stops quietly when the local reader goes away (`tlssh host yes | head -1`)', () => {
    const script = `"${process.execPath}" "${TLSSH}" -c "${fx.configFile}" localhost yes 2>"${fx.dir}/epipe.err" | head -1; echo "status=\${PIPESTATUS[0]}"`;
    // Bounded: a regression would otherwise hang the suite instead of failing.
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out, `y\nstatus=${128 + constants.signals.SIGPIPE}\n`);
    assert.equal(fs.readFileSync(path.join(fx.dir, 'epipe.err'), 'utf8'), '');
  });

  it('says when its output could not be written (a full disk) and exits 255, not the remote status', () => {
    const err = path.join(fx.dir, 'full.err');
    const script = `"${process.execPath}" "${TLSSH}" -c "${fx.configFile}" localhost 'head -c 200000 /dev/zero' >/dev/full 2>"${err}"; echo "status=$?"`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out, 'status=255\n');
    assert.match(fs.readFileSync(err, 'utf8'), /^tlssh: output cut short: .*ENOSPC/m);
  });

  it('a remote command that ignores SIGPIPE gets EPIPE when the local reader goes away, and its status is tlssh\'s', () => {
    // Python, Node and many daemons ignore SIGPIPE: such a writer must see its stdout closed, as
    // in a local pipeline, instead of writing for ever into a client that drops the bytes.
    const remote = 'trap "" PIPE; while :; do echo y || exit 3; done';
    const script = `"${process.execPath}" "${TLSSH}" -c "${fx.configFile}" localhost '${remote}' 2>"${fx.dir}/epipe-ignored.err" | head -1; echo "status=\${PIPESTATUS[0]}"`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out, 'y\nstatus=3\n');
  });

  it('with -tt, a remote program that ignores SIGPIPE is hung up at its next output once the local reader has gone', () => {
    const remote = 'trap "" PIPE; while :; do echo y; done';
    const script = `"${process.execPath}" "${TLSSH}" -c "${fx.configFile}" -tt localhost '${remote}' 2>"${fx.dir}/epipe-tty.err" | head -1; echo "status=\${PIPESTATUS[0]}"`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out, `y\r\nstatus=${128 + constants.signals.SIGHUP}\n`);
  });

  it('exits 255 on SIGTERM, SIGHUP, SIGQUIT and SIGINT, quietly as ssh does; -v says "Killed by signal N."', async () => {
    // SIGINT ends tlssh only with a terminal: without one the first goes to the remote command.
    const cases: [NodeJS.Signals, string[]][] = [['SIGTERM', []], ['SIGHUP', []], ['SIGQUIT', []], ['SIGINT', ['-tt']]];
    for (const [signal, extra] of cases) {
      for (const verbose of [false, true]) {
        const child = spawn(process.execPath, [TLSSH, ...conf, ...extra, ...(verbose ? ['-v'] : []), 'localhost', 'echo started; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const status = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        child.kill(signal);
        assert.equal(await status, 255, `${signal}: ${stderr}`);
        if (verbose) assert.match(stderr, new RegExp(`^Killed by signal ${constants.signals[signal]}\\.\r?\n$`, 'm'), signal);
        else assert.equal(stderr, '', signal);
      }
    }
  });

  it('keeps ignoring the signals its parent ignored, as ssh: `nohup tlssh host job &` outlives a hangup', async () => {
    // Started as a user starts it, through bin/tlssh's own first lines (sh, then node), which
    // pass on what node itself resets.
    for (const [ignore, expected] of [['HUP INT TERM QUIT', 'done'], ['', '']] as const) {
      const child = spawn('bash', ['-c', `trap '' ${ignore || 'USR2'}; exec "$0" "$@"`, TLSSH, ...conf, 'localhost', 'echo started; sleep 2; echo done'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const status = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      await new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('started\n') && resolve()));
      for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT'] as const) {
        try {
          process.kill(child.pid!, signal);
        } catch {
          // Ended by the one before.
        }
      }
      if (expected) {
        assert.equal(await status, 0, stderr);
        assert.equal(out, 'started\ndone\n');
      } else {
        assert.equal(await status, 255, stderr);
        assert.equal(out, 'started\n');
      }
    }
  });

  it('dies of SIGINT, SIGTERM and SIGHUP while it connects, as ssh does, so a shell loop stops at ^C; SIGQUIT still exits 255', async () => {
    // A server that accepts and never answers: tlssh is still in its TLS handshake.
    const silent = net.createServer();
    const held: net.Socket[] = [];
    let accepted: (() => void) | undefined;
    silent.on('connection', (c) => {
      held.push(c);
      accepted?.();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      for (const [signal, expected] of [['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGTERM'], ['SIGHUP', 'SIGHUP'], ['SIGQUIT', 255]] as const) {
        const connected = new Promise<void>((resolve) => (accepted = resolve));
        const child = spawn(process.execPath, [TLSSH, ...conf, '-p', String(port), 'localhost', 'true'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const ended = new Promise<number | string | null>((resolve) => child.once('close', (code, sig) => resolve(sig ?? code)));
        await connected;
        child.kill(signal);
        assert.equal(await ended, expected, `${signal}: ${stderr}`);
        assert.equal(stderr, '', signal);
      }
      // The shell sees the signal: bash reports 130 for a child that died of SIGINT.
      const connected = new Promise<void>((resolve) => (accepted = resolve));
      const sh = spawn('bash', ['-c', `"$0" ${[TLSSH, ...conf, '-p', String(port), 'localhost', 'true'].map((a) => `'${a}'`).join(' ')}; echo "status=$?"`, process.execPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      sh.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const shEnded = new Promise<void>((resolve) => sh.once('close', () => resolve()));
      await connected;
      execFileSync('pkill', ['-INT', '-P', String(sh.pid)]);
      await shEnded;
      assert.equal(out, `status=${128 + constants.signals.SIGINT}\n`);
    } finally {
      for (const c of held) c.destroy();
      silent.close();
    }
  });

  it('gives up on a server that stops answering ServerAliveCountMax keepalives, naming it as ssh does', async () => {
    const child = spawn(process.execPath, [TLSSH, ...conf, '-v', '-o', 'Keepalive=1', '-o', 'ServerAliveCountMax=2', 'localhost', 'echo started; sleep 60'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const status = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    // Once the command runs, freeze every worker: the TCP connection stays up but nothing answers.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const frozen = freezeWorkers(fx.server);
    try {
      assert.equal(await status, 255);
      assert.equal(errorCodeOf(stderr), 'TLSSH_ERR_KEEPALIVE_TIMEOUT', stderr);
      assert.match(stderr, /^tlssh: Timeout, server localhost not responding \(peer did not answer 2 keepalives in 2 seconds\)/m);
    } finally {
      frozen.kill();
    }
  });

  it('refuses user@host for another user: 255 and exactly one line', async () => {
    const r = await runTlssh([...conf, '-v', 'not-this-user@localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_USER_MISMATCH');
    const quiet = await runTlssh([...conf, 'not-this-user@localhost', 'true']);
    assert.equal(quiet.status, 255);
    assert.equal(quiet.stderr.trimEnd().split('\n').length, 1, quiet.stderr);
    assert.equal(failureLines(quiet.stderr).length, 1);
    assert.doesNotMatch(quiet.stderr, /\n\s+at /, 'no stack trace');
  });

  it('reports a refused connection in one line with status 255', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = await runTlssh([...conf, '-v', '-p', String(port), 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_CONNECT');
    assert.equal(failureLines(r.stderr).length, 1);
  });

  it('reports a configuration error in one line with status 255', async () => {
    const r = await runTlssh([...conf, '-v', '-o', 'NoSuchKeyword=1', 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD');
  });

  it('prints its version and help', () => {
    const v = spawnSync(process.execPath, [TLSSH, '-V'], { encoding: 'utf8' });
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^tlssh \d+\.\d+\.\d+/);
    const h = spawnSync(process.execPath, [TLSSH, '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /^usage: tlssh/im);
    const bad = spawnSync(process.execPath, [TLSSH], { encoding: 'utf8' });
    assert.equal(bad.status, 255);
  });
});

describe('tlssh checking the server', () => {
  let fx: ClientFixture;
  before(async () => {
    fx = await startFixture({ serverCn: 'other.example', serverSan: ['DNS:other.example'] });
  });
  after(async () => {
    await fx?.stop();
  });

  it('refuses a certificate for another name, naming both, with status 255', async () => {
    const r = await runTlssh(['-c', fx.configFile, '-v', '127.0.0.1', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_NAME_MISMATCH');
    const line = failureLines(r.stderr)[0] ?? '';
    assert.ok(line.includes('127.0.0.1') && line.includes('other.example'), line);
    const quiet = await runTlssh(['-c', fx.configFile, '127.0.0.1', 'true']);
    assert.equal(quiet.status, 255);
    assert.equal(quiet.stderr.trimEnd().split('\n').length, 1, quiet.stderr);
  });

  it('refuses a server whose CA it does not trust', async () => {
    const otherCaFile = path.join(fx.dir, 'other-ca.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(fx.dir, 'other-ca.key'), '-out', otherCaFile, '-subj', '/CN=other CA', '-days', '1'], { stdio: 'ignore' });
    // Trust is judged before the name, so this fails on the chain even though the name is wrong too.
    const r = await runTlssh(['-c', fx.configFile, '-v', '-o', `ServerCAFile=${otherCaFile}`, '127.0.0.1', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_CERT_UNTRUSTED', r.stderr);
    assert.equal(failureLines(r.stderr).length, 1);
  });
});
