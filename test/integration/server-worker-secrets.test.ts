// A worker never holds the daemon's passwords: with a password-protected PEM server key and both
// password keywords set, a login works, and the memory of the worker that served it (read from
// /proc/<pid>/mem, so root only) contains neither password.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import {
  connectClient, isRoot, loginUser, makeServerFixture, sessionRequest, startTlsshd, writeConfig, type ServerFixture, type TlsshdHandle,
} from '../helpers/server-harness';

const KEY_PW = `hardening-keypw-${randomBytes(6).toString('hex')}`;
const SRK_PW = `hardening-srkpw-${randomBytes(6).toString('hex')}`;
const me = loginUser();
let fx: ServerFixture;
let daemon: TlsshdHandle | undefined;
/** The same server with the key file unencrypted, as most are. */
let plainDaemon: TlsshdHandle | undefined;
let encKey: string;
const TLSSHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshd');

/** Whether `needle` occurs anywhere in the readable memory of process `pid`. */
function memoryContains(pid: number, needle: Buffer): boolean {
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n');
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
      if (!m || /\[(vvar|vsyscall)\]/.test(line)) continue;
      const start = parseInt(m[1] ?? '0', 16);
      const end = parseInt(m[2] ?? '0', 16);
      const chunk = 8 * 1024 * 1024;
      for (let off = start; off < end; off += chunk) {
        // Overlap chunks by the needle's length so a match across a boundary is found.
        const len = Math.min(chunk + needle.length, end - off);
        const buf = Buffer.alloc(len);
        let n: number;
        try {
          n = fs.readSync(fd, buf, 0, len, off);
        } catch {
          break; // unreadable region
        }
        if (buf.subarray(0, n).includes(needle)) return true;
      }
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

before(async () => {
  fx = makeServerFixture('tlsshd-worker-secrets');
  const pwFile = path.join(fx.dir, 'pw');
  fs.writeFileSync(pwFile, KEY_PW, { mode: 0o600 });
  encKey = path.join(fx.dir, 'server-enc.key');
  execFileSync('openssl', ['pkey', '-in', fx.config['KeyFile'] ?? '', '-aes256', '-passout', `file:${pwFile}`, '-out', encKey]);
  fs.chmodSync(encKey, 0o600);
  fs.rmSync(pwFile);
  const secrets = path.join(fx.dir, 'secrets.conf');
  fs.writeFileSync(secrets, `PrivkeyPassword ${KEY_PW}\nTpmSrkPassword ${SRK_PW}\n`, { mode: 0o600 });
  if (!isRoot) return;
  daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, KeyFile: encKey, include: secrets } });
  plainDaemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
});
after(async () => {
  await daemon?.stop();
  await plainDaemon?.stop();
  if (fx) fs.rmSync(fx.dir, { recursive: true, force: true });
});

test('the worker serving a login holds neither PrivkeyPassword nor TpmSrkPassword', { skip: isRoot ? false : 'reading another process\'s memory needs root' }, async () => {
  assert.ok(daemon);
  const s = connectClient(daemon.port, fx.client(me.name), sessionRequest({ command: 'echo ready; cat' }));
  await s.waitForStdout((o) => o.includes('ready'));
  // The listener's children: the worker of this session and a warm one; both got the same treatment.
  const workers = daemon.workerPids();
  assert.ok(workers.length >= 1, 'a worker serves the session');
  for (const pid of workers) {
    assert.equal(memoryContains(pid, Buffer.from(KEY_PW)), false, `worker ${pid} holds PrivkeyPassword`);
    assert.equal(memoryContains(pid, Buffer.from(SRK_PW)), false, `worker ${pid} holds TpmSrkPassword`);
  }
  // The scan itself works: the listener does hold them.
  assert.equal(memoryContains(daemon.pid, Buffer.from(KEY_PW)), true, 'the scan finds the password in the listener');
  s.endStdin();
  const r = await s.result;
  assert.equal(r.exit?.code, 0);
});

test('the worker serving a login never holds the server\'s private key: the listener\'s key agent signs', { skip: isRoot ? false : 'reading another process\'s memory needs root' }, async () => {
  assert.ok(daemon && plainDaemon);
  const key = createPrivateKey({ key: fs.readFileSync(encKey), passphrase: KEY_PW });
  // The private scalar: in every form the key takes (PEM, DER, OpenSSL's own), these bytes are there.
  const scalar = Buffer.from(String(key.export({ format: 'jwk' }).d), 'base64url');
  assert.equal(scalar.length, 32);
  for (const d of [plainDaemon, daemon]) {
    const s = connectClient(d.port, fx.client(me.name), sessionRequest({ command: 'echo ready; cat' }));
    await s.waitForStdout((o) => o.includes('ready'));
    const workers = d.workerPids();
    assert.ok(workers.length >= 1, 'a worker serves the session');
    for (const pid of workers) {
      assert.equal(memoryContains(pid, scalar), false, `worker ${pid} holds the private key`);
      // It signs with the agent-only addon: no TPM library, no TPM addon.
      const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
      assert.match(maps, /tlssh_agent_engine\.node/);
      assert.doesNotMatch(maps, /tlssh_tpm\.node|libtss2/);
    }
    assert.equal(memoryContains(d.pid, scalar), true, 'the scan finds the key in the listener');
    s.endStdin();
    assert.equal((await s.result).exit?.code, 0);
  }
});

test('a wrong PrivkeyPassword for a PEM key stops the daemon at start, in one line', () => {
  const secrets = path.join(fx.dir, 'wrong.conf');
  fs.writeFileSync(secrets, 'PrivkeyPassword not-the-password\n', { mode: 0o600 });
  const conf = path.join(fx.dir, 'wrong-main.conf');
  writeConfig(conf, { ...fx.config, KeyFile: encKey, include: secrets, Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(fx.dir, 'run-wrong') });
  const r = spawnSync(process.execPath, [TLSSHD, '-f', '-c', conf], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 255, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /server-enc\.key: cannot decrypt the key with PrivkeyPassword \(KeyFile\)/);
  assert.ok(!r.stderr.includes('not-the-password'), 'the password is never printed');
});

/** The listening TCP sockets of process `pid`, from ss (root sees every process's). */
function listeningSocketsOf(pid: number): string[] {
  return execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`pid=${pid},`));
}

test('the session\'s user cannot open Node\'s inspector in its worker with SIGUSR1', { skip: isRoot ? false : 'needs a daemon started as root' }, async () => {
  assert.ok(daemon);
  // The user's command is the worker's child, running as the user the worker has become.
  const s = connectClient(daemon.port, fx.client(me.name), sessionRequest({
    command: 'echo worker=$PPID; kill -USR1 $PPID && sleep 1 && echo signalled; cat',
  }));
  const out = await s.waitForStdout((o) => o.includes('signalled'));
  const worker = Number(/worker=(\d+)/.exec(out)?.[1]);
  assert.ok(daemon.workerPids().includes(worker), `${worker} is a worker of the daemon`);
  // Node would listen on 127.0.0.1:9229, or say it cannot: either way on the worker's stderr, the log.
  assert.doesNotMatch(daemon.logs(), /Debugger|inspector/i);
  assert.deepEqual(listeningSocketsOf(worker), []);
  // The session carries on.
  s.write('still here\n');
  await s.waitForStdout((o) => o.includes('still here'));
  s.endStdin();
  const r = await s.result;
  assert.equal(r.exit?.code, 0);
});
