// tlsshd without -f: it goes to the background, exits 0 once listening, writes its PidFile,
// and removes it on SIGTERM; a bad config refuses to start with status 255.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { isAlive, loginUser, makeServerFixture, runCommand, writeConfig } from '../helpers/server-harness';

const TLSSHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshd');

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test('detaches, writes PidFile, serves, and cleans up on SIGTERM', async () => {
  const fx = makeServerFixture('tlsshd-daemon');
  const me = loginUser();
  const pidFile = path.join(fx.dir, 'tlsshd.pid');
  const port = await freePort();
  const conf = path.join(fx.dir, 'tlsshd.conf');
  writeConfig(conf, { ...fx.config, ...me.config, Listen: '127.0.0.1', Port: String(port), PidFile: pidFile, RuntimeDir: path.join(fx.dir, 'run') });
  const r = spawnSync(process.execPath, [TLSSHD, '-c', conf], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  assert.ok(isAlive(pid));
  try {
    const s = await runCommand(port, fx.client(me.name), 'echo hello');
    assert.equal(s.stdout.toString(), 'hello\n');
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((res) => setTimeout(res, 50));
  assert.equal(isAlive(pid), false);
  assert.equal(fs.existsSync(pidFile), false);
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
    writeConfig(conf, { ...fx.config, Listen: '127.0.0.1', Port: String(port), RuntimeDir: path.join(fx.dir, 'run') });
    const r = spawnSync(process.execPath, [TLSSHD, '-c', conf], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 255);
    assert.match(r.stderr, /cannot listen/);
  } finally {
    busy.close();
  }
});
