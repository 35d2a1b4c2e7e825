// One fuzz run against a real tlsshd on 127.0.0.1: the codec in process, hostile live
// connections, the floods, and a canary session that must live through all of it. The run fails
// only when the canary dies, the daemon stops serving logins, or the codec breaks its contract
// (an error that is not a frame error, or unbounded buffering); everything else is a figure.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot, loginUser, makeServerFixture, startTlsshd, type ClientIdentity, type TlsshdHandle } from '../helpers/server-harness';
import { Canary } from './canary';
import { fuzzCodec, type CodecReport } from './codec-fuzz';
import { connectionFlood, loginWorks, pingFlood, slowReader, type ConnectionFloodReport, type PingFloodReport, type SlowReaderReport } from './floods';
import { captureClientHello, fuzzLive, within, type LiveReport } from './live-fuzz';
import { Rng } from './rng';
import { TreeMemoryMonitor, treeOf } from './tree-memory';

export interface FuzzOptions {
  seed: number;
  /** Frames in all: most go through the codec in process, liveShare of them over live connections. */
  frames: number;
  /** Wall-clock bound for the frame phases (the floods come on top). */
  seconds: number;
  liveShare: number;
  concurrency: number;
  idleConnections: number;
  halfHellos: number;
  pingBytes: number;
  slowReaderSeconds: number;
  /** Legitimate logins tried during each flood. */
  loginsPerFlood: number;
  log: (line: string) => void;
}

export const FULL_DEFAULTS: Omit<FuzzOptions, 'log'> = {
  seed: 1,
  frames: 100_000,
  seconds: 600,
  liveShare: 0.1,
  concurrency: 4,
  idleConnections: 500,
  halfHellos: 200,
  pingBytes: 64 * 1024 * 1024,
  slowReaderSeconds: 10,
  loginsPerFlood: 5,
};

export interface FuzzReport {
  seed: number;
  framesSent: number;
  codec: CodecReport;
  live: LiveReport;
  connections: number;
  floods: { connections?: ConnectionFloodReport; ping?: PingFloodReport; slowReader?: SlowReaderReport };
  peakTreePssKb: number;
  peakTreeProcesses: number;
  canarySurvived: boolean;
  canaryEchoes: number;
  canaryFailures: string[];
  daemonAnswers: boolean;
  daemonLog: string[];
  seconds: number;
  ok: boolean;
  /** Why ok is false. */
  failures: string[];
}

function writeClientConfig(dir: string, port: number, caFile: string, id: ClientIdentity): string {
  const file = path.join(dir, 'canary-tlssh.conf');
  const lines = { Port: String(port), ServerCAFile: caFile, CertFile: id.certFile, KeyFile: id.keyFile, ConnectTimeout: '30' };
  fs.writeFileSync(file, Object.entries(lines).map(([k, v]) => `${k} ${v}\n`).join(''), { mode: 0o600 });
  return file;
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const rng = new Rng(o.seed);
  const fx = makeServerFixture('tlssh-fuzz');
  const user = loginUser();
  const id = fx.client(user.name);
  // A certificate the CA signed for a name that is no local user: a holder can connect, never log in.
  const nobody = fx.client(`tlssh-fuzz-nobody-${o.seed}`);
  let daemon: TlsshdHandle | undefined;
  let canary: Canary | undefined;
  let monitor: TreeMemoryMonitor | undefined;
  const failures: string[] = [];
  const report: FuzzReport = {
    seed: o.seed, framesSent: 0, codec: { frames: 0, bytes: 0, mutated: 0, decoded: 0, refused: {}, findings: [], maxHeld: 0 },
    live: { connections: 0, frames: 0, bytes: 0, byMode: {}, closedByDaemon: 0, gaveUp: 0 }, connections: 0, floods: {},
    peakTreePssKb: 0, peakTreeProcesses: 0, canarySurvived: false, canaryEchoes: 0, canaryFailures: [], daemonAnswers: false,
    daemonLog: [], seconds: 0, ok: false, failures,
  };
  try {
    daemon = await startTlsshd({
      dir: fx.dir,
      config: { ...fx.config, ...user.config, LogLevel: 'INFO', LoginGraceTime: '60' },
    });
    monitor = new TreeMemoryMonitor(daemon.pid);
    canary = await Canary.start(writeClientConfig(fx.dir, daemon.port, fx.caFile, id));
    o.log(`tlsshd pid ${daemon.pid} on 127.0.0.1:${daemon.port}; canary logged in; seed ${o.seed}`);
    const deadline = started + o.seconds * 1000;
    const liveFrames = Math.round(o.frames * o.liveShare);
    const codecFrames = o.frames - liveFrames;

    // Codec first, in slices, so the canary is checked while the run goes on.
    const slices = 4;
    for (let i = 0; i < slices; i++) {
      const part = fuzzCodec(rng, { frames: Math.ceil(codecFrames / slices), deadline });
      const c = report.codec;
      c.frames += part.frames;
      c.bytes += part.bytes;
      c.mutated += part.mutated;
      c.decoded += part.decoded;
      c.maxHeld = Math.max(c.maxHeld, part.maxHeld);
      for (const [k, v] of Object.entries(part.refused)) c.refused[k] = (c.refused[k] ?? 0) + v;
      c.findings.push(...part.findings);
      await canary.check();
    }
    o.log(`codec: ${report.codec.frames} frames (${report.codec.mutated} mutated), ${report.codec.decoded} messages decoded, refusals ${JSON.stringify(report.codec.refused)}, ${report.codec.findings.length} findings`);

    let lastCheck = Date.now();
    report.live = await fuzzLive(rng, {
      port: daemon.port,
      id,
      frames: liveFrames,
      deadline,
      concurrency: o.concurrency,
      onProgress: () => {
        if (Date.now() - lastCheck > 5000) {
          lastCheck = Date.now();
          void canary?.check();
        }
      },
    });
    await canary.check();
    o.log(`live: ${report.live.connections} connections ${JSON.stringify(report.live.byMode)}, ${report.live.frames} frames; ${report.live.closedByDaemon} closed by the daemon, ${report.live.gaveUp} left open until we gave up`);

    const hello = await captureClientHello(id);
    if (o.idleConnections + o.halfHellos > 0) {
      const f = await connectionFlood({ port: daemon.port, id, idle: o.idleConnections, halfHello: o.halfHellos, hello, monitor, logins: o.loginsPerFlood });
      report.floods.connections = f;
      o.log(`flood: ${f.idle} idle + ${f.halfHello} half-ClientHello connections from 127.0.0.2 (${f.stillOpen} still open after 1 s); logins during it ${f.logins.succeeded}/${f.logins.tried}; tree PSS ${mb(f.baselineKb)} -> peak ${mb(f.peakKb)} (${f.kbPerConnection} kB per connection)`);
      await canary.check();
    }
    if (o.pingBytes > 0) {
      const p = await pingFlood({ port: daemon.port, nobody, id, bytes: o.pingBytes, monitor, logins: o.loginsPerFlood });
      report.floods.ping = p;
      if (!p.connected) o.log('ping flood: the daemon never completed a handshake for it (no figures)');
      else o.log(`ping flood (certificate of no user, never reads): ${mb(p.pingBytesAccepted / 1024)} of pings taken (${p.pings} pings), ${p.stoppedReading ? 'then the daemon stopped reading' : 'the daemon kept reading'}; logins during it ${p.logins.succeeded}/${p.logins.tried}; tree PSS peak ${mb(p.peakKb)}, largest process ${mb(p.largestProcessKb)}`);
      await canary.check();
    }
    if (o.slowReaderSeconds > 0) {
      const s = await slowReader({ port: daemon.port, id, seconds: o.slowReaderSeconds, monitor, logins: o.loginsPerFlood });
      report.floods.slowReader = s;
      o.log(`slow reader (${s.seconds} s of a command writing without end to a client that reads nothing): logins during it ${s.logins.succeeded}/${s.logins.tried}; tree PSS peak ${mb(s.peakKb)}, largest process ${mb(s.largestProcessKb)}`);
    }

    // Give the daemon a moment to drop what the floods left, then it must still serve a login.
    let answers = false;
    for (let i = 0; i < 3 && !answers; i++) {
      answers = await loginWorks(daemon.port, id, 30_000);
      if (!answers) await new Promise((r) => setTimeout(r, 2000));
    }
    report.daemonAnswers = answers;
    if (!answers) failures.push('the daemon no longer serves a login');
    report.canarySurvived = await canary.finish();
    report.canaryEchoes = canary.echoes;
    report.canaryFailures = canary.failures;
    if (!report.canarySurvived) failures.push(`the canary session died: ${canary.failures.join('; ')}`);
    if (report.codec.findings.length > 0) failures.push(`the codec broke its contract ${report.codec.findings.length} time(s)`);
  } catch (e) {
    failures.push(`the run itself failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    canary?.kill();
    if (monitor) {
      monitor.sample();
      monitor.stop();
      report.peakTreePssKb = monitor.peakKb;
      report.peakTreeProcesses = monitor.peakProcesses;
    }
    report.daemonLog = (daemon?.logs() ?? '').split('\n').filter((l) => /error|exception|crash|uncaught/i.test(l)).slice(0, 20);
    if (daemon) {
      const pid = daemon.pid;
      const stopped = await within(daemon.stop().then(() => true), 20_000, false);
      if (!stopped) {
        failures.push('the daemon did not stop on SIGTERM within 20 s');
        for (const p of treeOf(pid).reverse()) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    fs.rmSync(fx.dir, { recursive: true, force: true });
  }
  report.framesSent = report.codec.frames + report.live.frames;
  report.connections = report.live.connections + (report.floods.connections ? report.floods.connections.idle + report.floods.connections.halfHello : 0) + (report.floods.ping ? 1 : 0) + (report.floods.slowReader ? 1 : 0);
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  report.ok = failures.length === 0;
  void isRoot;
  return report;
}

export function mb(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}
