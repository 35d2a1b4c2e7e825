// The control socket against a peer that sends without reading, or holds a connection and sends
// nothing (root or the daemon's user only, but a stuck script is enough): what it can make the
// listener hold is bounded, and an idle connection does not keep a slot. The real socket, a
// handler that counts its calls.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { errorReply } from '../../src/server/control-protocol';
import { startControlSocket } from '../../src/server/control-socket';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-control-bounds-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * A control socket whose every reply is 64 KiB, and a client that sends `n` requests at once and
 * reads nothing for 1.5 s; `then` goes on with the client, and everything is closed after.
 */
async function floodWithoutReading(n: number, then: (c: net.Socket, calls: () => number) => Promise<void>): Promise<void> {
  let calls = 0;
  const big = 'x'.repeat(64 * 1024);
  const control = await startControlSocket(dir, () => {
    calls++;
    return errorReply('internal', big);
  }, () => undefined);
  const c = net.createConnection(control.path);
  try {
    await new Promise((r) => c.once('connect', r));
    c.pause();
    c.write('{"v":1,"op":"sessions"}\n'.repeat(n));
    await new Promise((r) => setTimeout(r, 1500));
    // n replies of 64 KiB would be n x 64 KiB in the listener; it stops at about a megabyte
    // beyond what the kernel's socket buffers hold.
    assert.ok(calls < 100, `${calls} requests answered while the peer read nothing`);
    await then(c, () => calls);
  } finally {
    c.destroy();
    control.close();
  }
}

test('requests sent without reading the replies are answered only as the replies are taken, and none is lost', async () => {
  const n = 2000;
  await floodWithoutReading(n, async (c, calls) => {
    let lines = 0;
    let tail = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      const parts = (tail + d).split('\n');
      tail = parts.pop() ?? '';
      lines += parts.length;
    });
    c.resume();
    for (let i = 0; i < 400 && lines < n; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(lines, n);
    assert.equal(calls(), n);
  });
});

test('a peer that keeps sending without reading is no longer read: its requests wait in its own buffers, not in the listener', async () => {
  // 1.2 MB of requests: more than the kernel holds between the two ends.
  await floodWithoutReading(50_000, async (c) => {
    assert.ok(c.writableLength > 0, 'the listener read every request');
  });
});

test('a connection that sends nothing is closed after the idle time', async () => {
  const control = await startControlSocket(dir, () => errorReply('internal', 'unused'), () => undefined, 300);
  try {
    const c = net.createConnection(control.path);
    const closed = await new Promise<boolean>((r) => {
      c.once('close', () => r(true));
      setTimeout(() => r(false), 5000).unref();
    });
    c.destroy();
    assert.equal(closed, true, 'still open after 5 s');
  } finally {
    control.close();
  }
});
