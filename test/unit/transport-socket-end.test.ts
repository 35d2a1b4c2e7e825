// endFlushed: a connection that ends while its peer has stopped reading must still close, or a
// silent peer would hold a worker (and its process) for ever.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { once } from 'node:events';
import { test } from 'node:test';
import { endFlushed } from '../../src/transport/socket-end';

test('a socket whose peer never reads still closes after endFlushed', { timeout: 30_000 }, async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const peer = net.connect(port, '127.0.0.1');
  peer.pause(); // never reads: the kernel's buffers fill, and the end can never flush
  const [ours] = (await once(server, 'connection')) as [net.Socket];
  ours.on('error', () => undefined);
  const chunk = Buffer.alloc(1 << 20);
  while (ours.write(chunk)) { /* fill until the socket holds more than it can send */ }
  assert.ok(ours.writableLength > 0, 'output is queued behind a peer that does not read');
  const closed = once(ours, 'close');
  assert.equal(endFlushed(ours), true);
  await closed;
  assert.equal(ours.destroyed, true);
  peer.destroy();
  server.close();
});

test('endFlushed on a socket already gone says so, so the caller finishes by itself', () => {
  const s = new net.Socket();
  s.destroy();
  assert.equal(endFlushed(s), false);
});

test('a stream that closed by itself releases the timer: nothing holds it for the 5 s', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let destroys = 0;
  const s = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
  const destroy = s.destroy.bind(s);
  s.destroy = (err?: Error): Duplex => {
    destroys += 1;
    return destroy(err);
  };
  assert.equal(endFlushed(s), true);
  // Closed without endFlushed's destroy (a shared connection's session link, once both ends are
  // done); the timer must not outlive it, holding the stream and all it refers to.
  s.emit('close');
  t.mock.timers.tick(5000);
  assert.equal(destroys, 0);
});
