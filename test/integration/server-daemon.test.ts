// tlsshd without -f: it goes to the background, exits 0 once listening, writes its PidFile,
// and removes it on SIGTERM; a bad config refuses to start with status 255.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { freePort, isAlive, isRoot, loginUser, makeServerFixture, runCommand, startTlsshd, writeConfig } from '../helpers/server-harness';

const TLSSHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshd');

test('detaches, writes PidFile, serves, and cleans up on SIGTERM', async () => {
  const fx = makeServerFixture('tlsshd-daemon');
  const me = loginUser();
  const pidFile = path.join(fx.dir, 'tlsshd.pid');
  const port = await freePort();
  const conf = path.join(fx.dir, 'tlsshd.conf');
  // LogFile: this host may have no syslog socket, and then tlsshd refuses the background without one.
  const logFile = path.join(fx.dir, 'tlsshd.log');
  writeConfig(conf, { ...fx.config, ...me.config, Listen: '127.0.0.1', Port: String(port), PidFile: pidFile, RuntimeDir: path.join(fx.dir, 'run'), LogFile: logFile });
  const r = spawnSync(process.execPath, [TLSSHD, '-c', conf], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  assert.ok(isAlive(pid));
  try {
    const s = await runCommand(port, fx.client(me.name), 'echo hello');
    assert.equal(s.stdout.toString(), 'hello\n');
    // The listener and the session's worker both log there, with a timestamp.
    const log = fs.readFileSync(logFile, 'utf8');
    assert.match(log, /^\d{4}-\d\d-\d\dT[\d:.]+Z tlsshd\[\d+\]: listening on 127\.0\.0\.1:/m);
    for (let i = 0; i < 100 && !/session closed: exit status 0/.test(fs.readFileSync(logFile, 'utf8')); i++) await new Promise((res) => setTimeout(res, 50));
    assert.match(fs.readFileSync(logFile, 'utf8'), /Z tlsshd\[\d+\]: conn 1 user \S+ from 127\.0\.0\.1 port \d+: session closed: exit status 0, duration [\d.]+s$/m);
    assert.equal(fs.statSync(logFile).mode & 0o777, 0o600);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((res) => setTimeout(res, 50));
  assert.equal(isAlive(pid), false);
  assert.equal(fs.existsSync(pidFile), false);
});

test('SIGUSR1 stops the listener as SIGTERM does, and never opens Node\'s inspector (root could, and any user would then attach)', async () => {
  const fx = makeServerFixture('tlsshd-daemon-usr1');
  const me = loginUser();
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  process.kill(d.pid, 'SIGUSR1');
  await d.waitForLog(/received SIGTERM; no longer accepting connections/);
  await d.stop();
  assert.doesNotMatch(d.logs(), /Debugger|inspector/i);
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

test('a relative -c path still reloads on SIGHUP once the daemon works from /', async () => {
  const fx = makeServerFixture('tlsshd-daemon-relative');
  const me = loginUser();
  const pidFile = path.join(fx.dir, 'tlsshd.pid');
  const logFile = path.join(fx.dir, 'tlsshd.log');
  fs.mkdirSync(path.join(fx.dir, 'etc'));
  writeConfig(path.join(fx.dir, 'etc', 'tlsshd.conf'), { ...fx.config, ...me.config, Listen: '127.0.0.1', Port: String(await freePort()), PidFile: pidFile, RuntimeDir: path.join(fx.dir, 'run'), LogFile: logFile });
  const r = spawnSync(process.execPath, [TLSSHD, '-c', 'etc/tlsshd.conf'], { encoding: 'utf8', timeout: 30_000, cwd: fx.dir });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 'SIGHUP');
    for (let i = 0; i < 200 && !/configuration reloaded|keeping the old/.test(fs.readFileSync(logFile, 'utf8')); i++) await new Promise((res) => setTimeout(res, 50));
    const log = fs.readFileSync(logFile, 'utf8');
    assert.match(log, /configuration reloaded/);
    assert.doesNotMatch(log, /keeping the old/);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((res) => setTimeout(res, 50));
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

test('a bad configuration refuses to start with status 255 and says why', () => {
  const r = spawnSync(process.execPath, [TLSSHD, '-c', '/dev/null', '-o', 'NoSuchKeyword=1'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 255);
  assert.match(r.stderr, /NoSuchKeyword/);
  const f = spawnSync(process.execPath, [TLSSHD, '-f', '-c', '/nonexistent/tlsshd.conf'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(f.status, 255);
});

test('a port already in use is a startup failure, reported by the parent', async () => {
  const fx = makeServerFixture('tlsshd-daemon-busy');
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const conf = path.join(fx.dir, 'tlsshd.conf');
    writeConfig(conf, { ...fx.config, Listen: '127.0.0.1', Port: String(port), RuntimeDir: path.join(fx.dir, 'run'), LogFile: path.join(fx.dir, 'tlsshd.log') });
    const r = spawnSync(process.execPath, [TLSSHD, '-c', conf], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 255);
    assert.match(r.stderr, /cannot listen/);
    // It made its control and key agent sockets before binding; a daemon that did not start removes them.
    assert.deepEqual(fs.readdirSync(path.join(fx.dir, 'run')).filter((f) => f.endsWith('.sock')), []);
  } finally {
    busy.close();
  }
});

test('without a syslog socket the background refuses to start (unless LogFile is set), saying so', { skip: fs.existsSync('/dev/log') ? 'this host has /dev/log' : false }, async () => {
  const fx = makeServerFixture('tlsshd-daemon-nosyslog');
  const conf = path.join(fx.dir, 'tlsshd.conf');
  writeConfig(conf, { ...fx.config, Listen: '127.0.0.1', Port: String(await freePort()), RuntimeDir: path.join(fx.dir, 'run') });
  const r = spawnSync(process.execPath, [TLSSHD, '-c', conf], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 255);
  assert.match(r.stderr, /^tlsshd: no syslog socket \/dev\/log: .*LogFile.*-f/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
});

// PAM's modules log through syslog(3), which names a line after argv[0] unless openlog() was
// called; tlsshd's process titles overwrite that memory ("dm1 [cmd]: pam_unix(...)"), so neither
// `journalctl -t tlsshd` nor a grep for tlsshd found them. Needs /dev/log to itself: on a host
// with a syslog daemon the lines go there, and this test is skipped.
const PAM_ADDON = path.resolve(__dirname, '..', '..', '..', 'build', 'Release', 'tlssh_pam.node');
test('PAM modules\' syslog lines are named tlsshd[pid], as sshd\'s are sshd[pid]', { skip: fs.existsSync('/dev/log') ? 'this host has /dev/log' : !isRoot ? 'needs root for /dev/log and PAM' : !fs.existsSync(PAM_ADDON) ? 'no PAM addon' : false }, async () => {
  const fx = makeServerFixture('tlsshd-daemon-pam-syslog');
  const me = loginUser();
  const received = path.join(fx.dir, 'syslog');
  // A syslog daemon of the simplest kind: every datagram on /dev/log, one per line, to a file.
  const listener = spawn('python3', ['-c', [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    "s.bind('/dev/log')",
    "print('ready', flush=True)",
    `f = open(${JSON.stringify(received)}, 'ab', buffering=0)`,
    'while True:',
    "    f.write(s.recv(65536) + b'\\n')",
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      listener.stdout!.once('data', () => resolve());
      listener.once('exit', (code) => reject(new Error(`the /dev/log listener exited ${code}`)));
    });
    const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, UsePAM: 'yes' } });
    try {
      const r = await runCommand(d.port, fx.client(me.name), 'true');
      assert.equal(r.exit?.code, 0, JSON.stringify(r.error));
      let text = '';
      for (let i = 0; i < 100 && !/session closed for user/.test(text); i++) {
        await new Promise((res) => setTimeout(res, 100));
        text = fs.existsSync(received) ? fs.readFileSync(received, 'latin1') : '';
      }
      // The worker's (opened before the drop) and the listener's (closed by root) lines.
      assert.match(text, new RegExp(`^<\\d+>.* tlsshd\\[\\d+\\]: pam_unix\\(tlsshd:session\\): session opened for user ${me.name}\\b`, 'm'), text);
      assert.match(text, new RegExp(`^<\\d+>.* tlsshd\\[${d.pid}\\]: pam_unix\\(tlsshd:session\\): session closed for user ${me.name}\\b`, 'm'), text);
    } finally {
      await d.stop();
    }
  } finally {
    listener.kill();
    fs.rmSync('/dev/log', { force: true });
    fs.rmSync(fx.dir, { recursive: true, force: true });
  }
});
