// The resource attacks of issue 7, run against a real tlsshd while legitimate logins are tried:
// - idle TCP connections and connections stalled after half a ClientHello, from 127.0.0.2;
// - a certificate holder (mapped to no user) that sends pings and never reads;
// - a logged-in client that never reads its stdout while the command writes without end.
// They report figures; only the canary and a final login decide whether the run passed.

import * as net from 'node:net';
import type * as tls from 'node:tls';
import { encodeMessage } from '../../src/protocol/codec';
import { connectTestTls, runCommand, sessionRequest, type ClientIdentity } from '../helpers/server-harness';
import { within } from './live-fuzz';
import type { TreeMemoryMonitor } from './tree-memory';

export const FLOOD_SOURCE = '127.0.0.2';

export interface LoginTally {
  tried: number;
  succeeded: number;
}

/** One quick login running `echo`, by the test client; true when it printed and exited 0. */
export async function loginWorks(port: number, id: ClientIdentity, timeoutMs = 15_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
  const attempt = runCommand(port, id, 'echo fuzz-login-ok').then((res) => res.exit?.code === 0 && res.stdout.toString() === 'fuzz-login-ok\n', () => false);
  const ok = await Promise.race([attempt, timeout]);
  clearTimeout(timer);
  return ok;
}

async function tryLogins(port: number, id: ClientIdentity, n: number): Promise<LoginTally> {
  const t: LoginTally = { tried: 0, succeeded: 0 };
  for (let i = 0; i < n; i++) {
    t.tried++;
    if (await loginWorks(port, id)) t.succeeded++;
  }
  return t;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openFrom(port: number, first?: Buffer): Promise<net.Socket | undefined> {
  return within(new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: FLOOD_SOURCE });
    s.on('error', () => resolve(undefined));
    s.once('connect', () => {
      if (first) s.write(first);
      s.resume();
      resolve(s);
    });
  }), 10_000, undefined);
}

export interface ConnectionFloodReport {
  idle: number;
  halfHello: number;
  /** Connections still open when the logins were tried (the daemon may close some). */
  stillOpen: number;
  logins: LoginTally;
  baselineKb: number;
  peakKb: number;
  /** (peak - baseline) / connections opened. */
  kbPerConnection: number;
}

export async function connectionFlood(o: { port: number; id: ClientIdentity; idle: number; halfHello: number; hello: Buffer; monitor: TreeMemoryMonitor; logins: number }): Promise<ConnectionFloodReport> {
  const baselineKb = o.monitor.phase().peakKb;
  const half = o.hello.subarray(0, Math.floor(o.hello.length / 2));
  const sockets: net.Socket[] = [];
  const open = async (n: number, first?: Buffer): Promise<number> => {
    let opened = 0;
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => openFrom(o.port, first)));
      for (const s of batch) if (s) { sockets.push(s); opened++; }
    }
    return opened;
  };
  const idle = await open(o.idle);
  const halfHello = await open(o.halfHello, half);
  await sleep(1000); // let the daemon do whatever it does with them
  o.monitor.sample();
  const stillOpen = sockets.filter((s) => !s.destroyed).length;
  const logins = await tryLogins(o.port, o.id, o.logins);
  const { peakKb } = o.monitor.phase();
  for (const s of sockets) s.destroy();
  const opened = Math.max(1, idle + halfHello);
  return { idle, halfHello, stillOpen, logins, baselineKb, peakKb, kbPerConnection: Math.round((peakKb - baselineKb) / opened) };
}

export interface PingFloodReport {
  /** Bytes of ping frames the daemon took from the socket before it stopped reading (or the cap). */
  pingBytesAccepted: number;
  pings: number;
  /** Whether the handshake succeeded at all (no figures otherwise). */
  connected: boolean;
  stoppedReading: boolean;
  logins: LoginTally;
  peakKb: number;
  largestProcessKb: number;
}

/** Waits for 'drain' up to `ms`; false when the peer stopped reading. */
function drained(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { s.off('drain', on); resolve(false); }, ms);
    const on = (): void => { clearTimeout(timer); resolve(true); };
    s.once('drain', on);
  });
}

export async function pingFlood(o: { port: number; nobody: ClientIdentity; id: ClientIdentity; bytes: number; monitor: TreeMemoryMonitor; logins: number }): Promise<PingFloodReport> {
  o.monitor.phase();
  // Right after the connection flood the daemon may still be shedding it (MaxStartups): retry.
  let t: tls.TLSSocket | undefined;
  let up = false;
  for (let attempt = 0; attempt < 10 && !up; attempt++) {
    if (attempt > 0) await sleep(2000);
    t?.destroy();
    const s = connectTestTls(o.port, o.nobody);
    t = s;
    s.on('error', () => undefined);
    up = await within(new Promise<boolean>((r) => { s.once('secureConnect', () => r(true)); s.once('close', () => r(false)); }), 15_000, false);
  }
  if (!t) throw new Error('unreachable');
  t.pause(); // never read a pong
  const batch = Buffer.concat(Array.from({ length: 4096 }, (_, i) => encodeMessage({ type: 'ping', cookie: i })));
  const perPing = batch.length / 4096;
  let written = 0;
  let stoppedReading = false;
  while (up && !t.destroyed && written < o.bytes) {
    written += batch.length;
    if (!t.write(batch)) {
      if (!(await drained(t, 3000))) {
        stoppedReading = true;
        break;
      }
    }
  }
  // What is still queued on our side never reached the daemon.
  const accepted = Math.max(0, written - t.writableLength);
  await sleep(1000);
  o.monitor.sample();
  const logins = await tryLogins(o.port, o.id, o.logins);
  const { peakKb, largestKb } = o.monitor.phase();
  t.destroy();
  return { pingBytesAccepted: accepted, pings: Math.floor(accepted / perPing), connected: up, stoppedReading, logins, peakKb, largestProcessKb: largestKb };
}

export interface SlowReaderReport {
  seconds: number;
  logins: LoginTally;
  peakKb: number;
  largestProcessKb: number;
}

export async function slowReader(o: { port: number; id: ClientIdentity; seconds: number; monitor: TreeMemoryMonitor; logins: number }): Promise<SlowReaderReport> {
  o.monitor.phase();
  const t = connectTestTls(o.port, o.id);
  t.on('error', () => undefined);
  t.once('secureConnect', () => {
    // The command writes for ever; this client reads nothing from here on.
    t.write(encodeMessage(sessionRequest({ command: 'exec head -c 4000000000 /dev/zero' })));
    t.pause();
  });
  await sleep(o.seconds * 1000);
  o.monitor.sample();
  const logins = await tryLogins(o.port, o.id, o.logins);
  const { peakKb, largestKb } = o.monitor.phase();
  t.destroy();
  return { seconds: o.seconds, logins, peakKb, largestProcessKb: largestKb };
}
