// The listener believes a worker's "login on pts/N" only when the session's user owns pts/N: a
// worker has become the user by then, and a compromised one must not be able to put a login
// record on someone else's terminal. The worker here is a real process playing a misbehaving
// worker over the real IPC channel; the listener is the real one, in this process, writing to a
// utmp and wtmp of its own.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as pty from 'node-pty';
import { loadServerConfig } from '../../src/config';
import { Listener } from '../../src/server/listener';
import { Logger } from '../../src/server/log';
import { UTMP_SIZE, UT_TYPE, decodeUtmp } from '../../src/server/utmp-record';
import { makeServerFixture, writeConfig, type ServerFixture } from '../helpers/server-harness';
import { captureClientHello } from '../helpers/client-hello';

let fx: ServerFixture;
let term: pty.IPty;
/** "pts/N" of a terminal this test process opened: owned by whoever runs the tests. */
let line: string;
const me = os.userInfo();
/** A user who does not own that terminal. */
const stranger = me.uid === 65534 ? 'root' : 'nobody';

before(() => {
  fx = makeServerFixture('tlsshd-tty-owner');
  term = pty.spawn('sleep', ['600'], { name: 'dumb', cols: 80, rows: 24 });
  line = (term as unknown as { ptsName: string }).ptsName.replace(/^\/dev\//, '');
  assert.match(line, /^pts\/\d+$/);
  assert.equal(fs.statSync(`/dev/${line}`).uid, me.uid);
});
after(() => {
  term?.kill('SIGKILL');
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

function utmpUsers(file: string): Array<[string, string]> {
  const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const out: Array<[string, string]> = [];
  for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) {
    const r = decodeUtmp(data.subarray(off, off + UTMP_SIZE));
    if (r.type === UT_TYPE.user) out.push([r.user, r.line]);
  }
  return out;
}

/** Runs one connection through a listener whose worker claims `user` logged in on `claimed`. */
async function claim(user: string, claimed: string): Promise<{ utmp: Array<[string, string]>; wtmp: number; logs: string[] }> {
  const dir = fs.mkdtempSync(path.join(fx.dir, 'run-'));
  const workerScript = path.join(dir, 'worker-main.js');
  // Says it authenticated `user`, then reports the terminal, then stays (as a session would).
  fs.writeFileSync(workerScript, `
    process.on('disconnect', () => process.exit(0));
    process.on('message', (m) => {
      if (!m || m.t !== 'connection') return;
      process.send({ t: 'authenticated', user: ${JSON.stringify(user)} });
      process.send({ t: 'login', line: ${JSON.stringify(claimed)} });
      process.send({ t: 'ready' }, () => setTimeout(() => process.exit(0), 60000));
    });
  `);
  const conf = path.join(dir, 'tlsshd.conf');
  // No warm workers: the one forked for the connection is the misbehaving script.
  writeConfig(conf, { ...fx.config, Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(dir, 'run'), PreforkWorkers: '0' });
  const logs: string[] = [];
  const log = new Logger({ level: 'DEBUG', sink: 'stderr', facility: 'AUTHPRIV', write: (l) => logs.push(l) });
  const utmp = path.join(dir, 'utmp');
  const wtmp = path.join(dir, 'wtmp');
  const listener = new Listener({
    config: loadServerConfig({ file: conf }), log, logSink: 'stderr', workerStderr: 'inherit',
    utmpPath: utmp, wtmpPath: wtmp, workerEntry: workerScript,
  });
  const [addr] = await listener.start();
  // The listener starts a worker only once a whole ClientHello has arrived.
  const hello = await captureClientHello();
  const socket = net.connect(addr?.port ?? 0, '127.0.0.1', () => socket.write(hello));
  socket.on('error', () => {});
  try {
    // The listener either writes the record or logs why not; wait for one of the two.
    for (let i = 0; i < 400; i++) {
      if (utmpUsers(utmp).length > 0 || logs.some((l) => /does not own|login record for/.test(l))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    socket.destroy();
    await listener.stop();
  }
  const wtmpSize = fs.existsSync(wtmp) ? fs.statSync(wtmp).size / UTMP_SIZE : 0;
  return { utmp: utmpUsers(utmp), wtmp: wtmpSize, logs };
}

test('a worker reporting a terminal its user does not own gets no login record', async () => {
  const r = await claim(stranger, line);
  assert.deepEqual(r.utmp, [], 'utmp record written for a terminal the user does not own');
  assert.equal(r.wtmp, 0, 'wtmp record written');
  assert.ok(r.logs.some((l) => l.includes(`reported tty ${line} which ${stranger} does not own`)), r.logs.join(''));
});

test('the control: the terminal\'s owner gets the record', async () => {
  const r = await claim(me.username, line);
  assert.deepEqual(r.utmp, [[me.username, line]]);
  assert.equal(r.wtmp, 1);
});
