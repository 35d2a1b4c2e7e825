// The listener's side of WorkerForkServer: when it hands connections to the fork server (and what
// tlsshctl status shows), and how it learns that a forked worker is gone when the fork server
// cannot say. A real child process stands in for the fork server; it only speaks the handshake.

import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ForkServerHandle, ForkedWorker } from '../../src/server/fork-server-handle';
import type { WarmMessage } from '../../src/server/ipc-messages';
import { LineChannel } from '../../src/server/line-channel';
import { makeTempDir } from '../helpers/ca';
import { pollUntil } from '../helpers/poll';

// Says it is ready, tells the test it was asked to warm up ({ t: 'got-warm' }, which the handle
// ignores), and answers the warm-up only when the test says so ({ t: 'finish-warming' }).
const FAKE_FORK_SERVER = `
let warm;
process.on('message', (m) => {
  if (m && m.t === 'warm') {
    warm = m;
    process.send({ t: 'got-warm' });
  }
  if (m && m.t === 'finish-warming' && warm) process.send({ t: 'warmed', generation: warm.generation });
});
process.send({ t: 'ready' });
setInterval(() => {}, 60000);
`;

function askedToWarm(child: ReturnType<typeof fork>): Promise<void> {
  return new Promise((resolve) => child.on('message', (m: { t?: string }) => { if (m.t === 'got-warm') resolve(); }));
}

/** A line whose other end is gone: what a worker that exited before the hand-off's reply leaves. */
async function closedLine(): Promise<LineChannel> {
  const socket = new net.Socket();
  const line = new LineChannel(socket);
  socket.destroy();
  await pollUntil('the line to close', () => !line.connected);
  return line;
}

describe('ForkServerHandle', () => {
  it('takes connections only once warm, and not after its process ended; status shows its pid only then', async () => {
    const dir = makeTempDir('tlssh-fork-handle');
    const script = path.join(dir, 'fake-fork-server.js');
    fs.writeFileSync(script, FAKE_FORK_SERVER);
    const children: ReturnType<typeof fork>[] = [];
    // Listened for from the start: a message that came before a listener would be missed.
    const warmAsked: Promise<void>[] = [];
    const logs: string[] = [];
    const handle = new ForkServerHandle({
      spawn: () => {
        const c = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
        children.push(c);
        warmAsked.push(askedToWarm(c));
        return c;
      },
      // The stand-in reads only the generation.
      warmMessage: (generation) => ({ t: 'warm', generation }) as Partial<WarmMessage> as WarmMessage,
      generation: () => 1,
      log: (_level, line) => logs.push(line),
    });
    try {
      const first = children[0]!;
      await warmAsked[0];
      assert.equal(handle.pid, first.pid);
      // Started, asked to warm up, not warm yet: connections get workers of their own.
      assert.equal(handle.available, false);
      assert.equal(handle.statusPid, null, 'a fork server still warming is not shown as serving');
      first.send({ t: 'finish-warming' });
      await pollUntil('the fork server to be warm', () => handle.available);
      assert.equal(handle.statusPid, first.pid);

      first.kill('SIGKILL');
      await pollUntil('its end to be seen', () => logs.some((l) => /fork server \d+ ended \(killed by SIGKILL\)/.test(l)));
      assert.equal(handle.available, false, 'a dead fork server takes no connections');
      assert.equal(handle.statusPid, null);
      // It is started again, and serves once warm.
      await pollUntil('a new fork server', () => children.length === 2);
      await warmAsked[1];
      children[1]!.send({ t: 'finish-warming' });
      await pollUntil('the new fork server to be warm', () => handle.available);
      assert.equal(handle.statusPid, children[1]!.pid);
    } finally {
      handle.stop();
      for (const c of children) c.kill('SIGKILL');
    }
  });
});

describe('ForkedWorker', () => {
  it('reports the exit of a worker whose line closed before it was made, with its fork server gone', async () => {
    const gone = spawnSync('true').pid;
    const w = new ForkedWorker(gone, await closedLine(), () => false);
    let exit: unknown[] | undefined;
    w.once('exit', (...args: unknown[]) => { exit = args; });
    // Its watch does not keep a process alive (unref): the poll here does.
    await pollUntil('the exit', () => exit !== undefined);
    assert.deepEqual(exit, [null, null]);
    // A late report from the fork server (or a second look) ends nothing twice, and a gone worker
    // is not signalled: its pid may be somebody else's by now.
    let exits = 1;
    w.on('exit', () => exits++);
    w.exited(0, null);
    assert.equal(exits, 1);
    assert.equal(w.kill('SIGTERM'), false);
  });

  it('reports it once the line closes later', async () => {
    const gone = spawnSync('true').pid;
    const [a, b] = await socketPair();
    const w = new ForkedWorker(gone, new LineChannel(a), () => false);
    let ended = false;
    w.once('exit', () => { ended = true; });
    b.destroy();
    await pollUntil('the exit', () => ended);
  });
});

function socketPair(): Promise<[net.Socket, net.Socket]> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((accepted) => {
      server.close();
      resolve([client, accepted]);
    });
    server.on('error', reject);
    let client: net.Socket;
    server.listen(0, '127.0.0.1', () => {
      client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    });
  });
}
