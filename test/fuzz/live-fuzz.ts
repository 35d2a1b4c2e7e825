// Hostile connections to a real tlsshd: bytes that are not TLS, mutated ClientHellos, garbage
// right after a good handshake, and sessions that, after a valid session request, go on with
// random well-formed and mutated frames. Each connection is closed by the daemon or given up
// after a few seconds; what matters is that the daemon and the canary live through it.

import * as net from 'node:net';
import * as tls from 'node:tls';
import { encodeMessage } from '../../src/protocol/codec';
import { MSG } from '../../src/protocol/messages';
import { connectTestTls, sessionRequest, type ClientIdentity } from '../helpers/server-harness';
import { mutate, randomFrame } from './frames';
import type { Rng } from './rng';

export interface LiveReport {
  connections: number;
  frames: number;
  bytes: number;
  byMode: Record<string, number>;
  /** How the daemon ended them. */
  closedByDaemon: number;
  gaveUp: number;
}

/** A real TLS 1.3 ClientHello from Node's client, as the first bytes it sends. */
export async function captureClientHello(id: ClientIdentity): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (b: Buffer) => { resolve(b); s.destroy(); })));
    const c = connectTestTls(port, id);
    c.on('error', () => undefined);
    const hello = await got;
    c.destroy();
    return hello;
  } finally {
    server.close();
  }
}

/** `p`, or `fallback` after `ms`: no wait in the fuzzer may last for ever. */
export function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((r) => { timer = setTimeout(() => r(fallback), ms); })]).finally(() => clearTimeout(timer));
}

/** Resolves when the socket closes (true) or after `ms` (false, and the socket is destroyed). */
function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Frames after the session request: never a second session request, so no command but ours ever runs. */
function sessionFrame(rng: Rng): Buffer {
  const f = randomFrame(rng, { sessionRequest: false, bigData: rng.chance(0.1) });
  if (!rng.chance(0.05)) return f;
  const m = mutate(rng, f, () => randomFrame(rng, { sessionRequest: false, bigData: false }));
  if (m.length > 4 && m[4] === MSG.sessionRequest) m[4] = MSG.ping;
  return m;
}

const MODES = ['garbage-tcp', 'mutated-hello', 'garbage-after-handshake', 'session-frames', 'session-frames', 'session-frames'] as const;
type Mode = (typeof MODES)[number];

async function oneConnection(rng: Rng, mode: Mode, port: number, id: ClientIdentity, hello: Buffer, frameBudget: number, r: LiveReport): Promise<void> {
  r.connections++;
  r.byMode[mode] = (r.byMode[mode] ?? 0) + 1;
  const count = (b: Buffer, frames: number): void => {
    r.bytes += b.length;
    r.frames += frames;
  };
  let sock: net.Socket;
  if (mode === 'garbage-tcp' || mode === 'mutated-hello') {
    sock = net.connect({ host: '127.0.0.1', port });
    sock.on('error', () => undefined);
    await within(new Promise<void>((res) => { sock.once('connect', () => res()); sock.once('close', () => res()); }), 10_000, undefined);
    const bytes = mode === 'garbage-tcp' ? rng.bytes(1 + rng.size(4096)) : mutate(rng, hello, () => rng.bytes(64));
    if (!sock.destroyed) sock.write(bytes);
    sock.resume();
    (await closedWithin(sock, 3000)) ? r.closedByDaemon++ : r.gaveUp++;
    return;
  }
  const t: tls.TLSSocket = connectTestTls(port, id);
  sock = t;
  t.on('error', () => undefined);
  t.resume(); // read (and drop) whatever the daemon says
  const up = await within(new Promise<boolean | 'closed'>((res) => { t.once('secureConnect', () => res(true)); t.once('close', () => res('closed')); }), 15_000, false);
  if (up !== true) {
    if (up === 'closed') r.closedByDaemon++;
    else r.gaveUp++;
    t.destroy();
    return;
  }
  if (mode === 'garbage-after-handshake') {
    const b = rng.bytes(1 + rng.size(2048));
    t.write(b);
    count(b, 0);
  } else {
    const req = encodeMessage(sessionRequest({ command: 'cat >/dev/null', pty: rng.chance(0.3), term: 'xterm' }));
    t.write(req);
    count(req, 1);
    const n = 1 + rng.int(frameBudget);
    for (let i = 0; i < n && !t.destroyed; i++) {
      const f = sessionFrame(rng);
      t.write(f);
      count(f, 1);
      // Let the daemon's answer (often: closing on a bad frame) arrive between small batches.
      if (i % 16 === 15) await new Promise((res) => setImmediate(res));
      if (t.writableLength > 1 << 20) await new Promise((res) => setTimeout(res, 20));
    }
    if (!t.destroyed && rng.chance(0.5)) t.end();
  }
  (await closedWithin(t, 3000)) ? r.closedByDaemon++ : r.gaveUp++;
}

export async function fuzzLive(rng: Rng, opts: { port: number; id: ClientIdentity; frames: number; deadline: number; concurrency: number; onProgress?: (r: LiveReport) => void }): Promise<LiveReport> {
  const r: LiveReport = { connections: 0, frames: 0, bytes: 0, byMode: {}, closedByDaemon: 0, gaveUp: 0 };
  const hello = await captureClientHello(opts.id);
  const perConnection = 400;
  const worker = async (): Promise<void> => {
    while (r.frames < opts.frames && Date.now() < opts.deadline) {
      const mode = rng.pick(MODES);
      await oneConnection(rng, mode, opts.port, opts.id, hello, Math.min(perConnection, Math.max(1, opts.frames - r.frames)), r);
      opts.onProgress?.(r);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, () => worker()));
  return r;
}
