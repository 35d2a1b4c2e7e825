// A worker may report more than one thing against its peer before it ends (its grace timer, then
// the TLS failure that follows); the listener keeps the harshest, whatever the order. The worker
// here is a real process playing one over the real IPC channel; the listener is the real one.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { loadServerConfig } from '../../src/config';
import { Listener } from '../../src/server/listener';
import { Logger } from '../../src/server/log';
import { makeServerFixture, writeConfig, type ServerFixture } from '../helpers/server-harness';
import { captureClientHello } from '../helpers/client-hello';

let fx: ServerFixture;

before(() => {
  fx = makeServerFixture('tlsshd-penalty-order');
});
after(() => {
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

/** The penalty line the listener logs for a worker that reports `reasons`, in order, then exits. */
async function penaltyFor(reasons: readonly string[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(fx.dir, 'run-'));
  const workerScript = path.join(dir, 'worker-main.js');
  fs.writeFileSync(workerScript, `
    process.on('message', (m) => {
      if (!m || m.t !== 'connection') return;
      for (const reason of ${JSON.stringify(reasons)}) process.send({ t: 'penalty', reason });
      process.send({ t: 'ready' }, () => process.exit(0));
    });
  `);
  const conf = path.join(dir, 'tlsshd.conf');
  // Lengths that tell the kinds apart, each past `min`, so that one report starts a penalty.
  writeConfig(conf, {
    ...fx.config, Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(dir, 'run'), PreforkWorkers: '0',
    PerSourcePenalties: 'noauth:20s authfail:30s grace-exceeded:40s min:15s',
  });
  const logs: string[] = [];
  const log = new Logger({ level: 'DEBUG', sink: 'stderr', facility: 'AUTHPRIV', write: (l) => logs.push(l) });
  const listener = new Listener({
    config: loadServerConfig({ file: conf }), log, logSink: 'stderr', workerStderr: 'inherit',
    utmpPath: path.join(dir, 'utmp'), wtmpPath: path.join(dir, 'wtmp'), lastlogPath: '', workerEntry: workerScript,
  });
  const [addr] = await listener.start();
  const hello = await captureClientHello();
  const socket = net.connect(addr?.port ?? 0, '127.0.0.1', () => socket.write(hello));
  socket.on('error', () => {});
  try {
    for (let i = 0; i < 400 && !logs.some((l) => /penalty: /.test(l)); i++) await new Promise((r) => setTimeout(r, 25));
  } finally {
    socket.destroy();
    await listener.stop();
  }
  return logs.find((l) => /penalty: /.test(l)) ?? `no penalty line in:\n${logs.join('')}`;
}

test('grace-exceeded, then noauth: the listener keeps grace-exceeded', async () => {
  assert.match(await penaltyFor(['grace-exceeded', 'noauth']), /penalty: 127\.0\.0\.1\/32 refused for 40s \(grace-exceeded\)/);
});

test('noauth, then authfail: the harsher authfail', async () => {
  assert.match(await penaltyFor(['noauth', 'authfail']), /penalty: 127\.0\.0\.1\/32 refused for 30s \(authfail\)/);
});
