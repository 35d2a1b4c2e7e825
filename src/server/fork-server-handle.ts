// The listener's side of the fork server (fork-server.ts): starts it, warms it for the current
// configuration, hands it connections one at a time, and gives the listener a ForkedWorker for
// each, which looks to the listener like the ChildProcess of a worker it started itself.

import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { loadForkBinding, type ForkBinding } from './fork-binding';
import { parseForkServerMessage, type ConnectionMessage, type WarmMessage } from './ipc-messages';
import { CRASH_SIGNALS } from './crash-signals';
import { LineChannel } from './line-channel';
import { processStartTime } from './login-records';

/** What the listener uses of a worker process, whether it started it or the fork server forked it. */
export interface WorkerProcess extends EventEmitter {
  readonly pid?: number | undefined;
  readonly connected: boolean;
  send(message: object): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  disconnect(): void;
}

/**
 * How long the fork server may take to answer a hand-off (a fork takes milliseconds). One that
 * does not answer (stopped, or stuck) is killed: logins must not wait on it, and those queued
 * behind get workers of their own until a new one is up.
 */
export const FORK_REPLY_TIMEOUT_MS = 5000;

/** How often a worker whose line closed, with no exit reported, is looked for (its fork server is gone). */
const ORPHAN_POLL_MS = 1000;

export class ForkedWorker extends EventEmitter implements WorkerProcess {
  private ended = false;
  private poll: NodeJS.Timeout | undefined;
  private readonly startTime: string | undefined;

  constructor(readonly pid: number, private readonly line: LineChannel, private readonly forkServerAlive: () => boolean) {
    super();
    this.startTime = processStartTime(pid);
    line.on('message', (m) => this.emit('message', m));
    // The worker's end closes when it exits (close-on-exec: its commands do not hold it). Its
    // exit status comes from the fork server; if that is gone too, the process is watched for.
    // A worker that ended before the fork server's reply was read has closed its line already.
    if (line.connected) line.on('close', () => this.watch());
    else this.watch();
  }

  private watch(): void {
    let polls = 0;
    this.poll = setInterval(() => {
      const gone = this.startTime === undefined || processStartTime(this.pid) !== this.startTime;
      // While the fork server runs, its report is the one with the status in it.
      if (gone && (!this.forkServerAlive() || ++polls > 3)) this.exited(null, null);
    }, ORPHAN_POLL_MS);
    this.poll.unref();
  }

  get connected(): boolean {
    return this.line.connected;
  }

  send(message: object): boolean {
    return this.line.send(message);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.ended) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  disconnect(): void {
    this.line.close();
  }

  /** The fork server reaped it (or, without one, it is gone). */
  exited(code: number | null, signal: string | null): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.poll);
    this.emit('exit', code, signal);
  }
}

interface HandOff {
  msg: ConnectionMessage;
  socket: net.Socket;
  done: (r: { worker: ForkedWorker } | { error: string; socketLost: boolean }) => void;
}

export interface ForkServerOptions {
  /** Starts the fork server process (worker-main.js with FORK_SERVER_ARG). */
  spawn(): ChildProcess;
  warmMessage(generation: number): WarmMessage;
  generation(): number;
  log(level: 'info' | 'verbose' | 'error', line: string): void;
  /**
   * Whether worker `pid` had a logged-in user. Such a worker runs as that user, who may signal
   * it: its "crash" tells nobody anything about the layout, and must not let a user make the
   * daemon start fork servers on demand. Absent: every crash counts.
   */
  loggedIn?(pid: number): boolean;
}

export class ForkServerHandle {
  private child: ChildProcess | undefined;
  private ready = false;
  private readonly queue: HandOff[] = [];
  private inFlight: (HandOff & { ref: number; line: LineChannel; timer: NodeJS.Timeout }) | undefined;
  private nextRef = 1;
  private readonly forked = new Map<number, ForkedWorker>();
  private readonly binding: ForkBinding;
  private stopped = false;
  /** A worker crashed: the fork server is replaced once its hand-off in flight is answered. */
  private renewing = false;

  constructor(private readonly opts: ForkServerOptions) {
    const loaded = loadForkBinding();
    if (!('binding' in loaded)) throw new Error(loaded.error);
    this.binding = loaded.binding;
    this.start();
  }

  /** Whether connections go to it now (it has started and answered its warm-up). */
  get available(): boolean {
    return this.ready && !this.stopped;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What `tlsshctl status` shows: its pid while it takes connections, else null (warming, gone). */
  get statusPid(): number | null {
    return this.available ? this.child?.pid ?? null : null;
  }

  /** Hands a connection over; `done` gets the worker, or why not (the socket is then still ours unless `socketLost`). */
  handOff(msg: ConnectionMessage, socket: net.Socket, done: HandOff['done']): void {
    this.queue.push({ msg, socket, done });
    this.pump();
  }

  /** Stops it (its workers go on); connections still queued are given back. */
  stop(): void {
    this.stopped = true;
    this.retire('the fork server is stopping');
  }

  /**
   * Lets the fork server go (its workers carry on; it exits once disconnected) and gives back
   * the connections waiting for it. Its late messages are ignored: onMessage takes only the
   * current fork server's.
   */
  private retire(why: string): void {
    this.fail(why);
    this.child?.removeAllListeners('exit');
    if (this.child?.connected) this.child.disconnect();
    this.child = undefined;
    this.ready = false;
  }

  private start(): void {
    const child = this.opts.spawn();
    this.child = child;
    this.ready = false;
    child.on('message', (raw: unknown) => this.onMessage(child, raw));
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.ready = false;
      this.opts.log('error', `fork server ${child.pid ?? '?'} ended (${signal ? `killed by ${signal}` : `exit ${code ?? '?'}`}); new workers are started as processes of their own until it is back`);
      this.fail('the fork server ended');
      // Its workers carry on; their exits are seen when their lines close.
      if (!this.stopped) setTimeout(() => { if (!this.stopped && !this.child) this.start(); }, 1000).unref();
    });
  }

  private onMessage(child: ChildProcess, raw: unknown): void {
    if (child !== this.child) return;
    const m = parseForkServerMessage(raw);
    if (!m) return;
    if (m.t === 'ready') {
      child.send(this.opts.warmMessage(this.opts.generation()));
    } else if (m.t === 'warmed') {
      if (!this.ready) this.opts.log('verbose', `fork server ${child.pid ?? '?'} ready`);
      this.ready = true;
      this.pump();
    } else if (m.t === 'forked' || m.t === 'fork-failed') {
      const h = this.inFlight;
      if (!h || h.ref !== m.ref) return;
      this.inFlight = undefined;
      clearTimeout(h.timer);
      if (m.t === 'forked') {
        const worker = new ForkedWorker(m.pid, h.line, () => this.child !== undefined);
        this.forked.set(m.pid, worker);
        worker.once('exit', () => this.forked.delete(m.pid));
        h.done({ worker });
      } else {
        h.line.close();
        h.done({ error: m.why, socketLost: true });
      }
      this.pump();
    } else if (m.t === 'exited') {
      // Asked before the exit is told: the listener forgets the worker then.
      const user = this.opts.loggedIn?.(m.pid) === true;
      const crashed = m.signal !== null && CRASH_SIGNALS.has(m.signal);
      this.forked.get(m.pid)?.exited(m.code, m.signal);
      // Every worker of one fork server has its layout: a crash before login may be somebody
      // probing that layout a connection at a time (as against any server that forks without exec).
      if (crashed && user) {
        this.opts.log('info', `worker ${m.pid} of a logged-in user ended by ${m.signal}; the fork server stays`);
      } else if (crashed && !this.renewing) {
        this.renewing = true;
        this.opts.log('error', `worker ${m.pid} crashed (${m.signal}): replacing fork server ${child.pid ?? '?'}, so that later workers get a new address-space layout`);
        this.pump();
      }
    }
  }

  /**
   * Retires the fork server as a reload does (its workers carry on) and starts a new one; until
   * that one is warm, connections get workers of their own.
   */
  private renew(): void {
    this.renewing = false;
    if (!this.child) return;
    // Connections queued meanwhile get workers of their own rather than wait for the warm-up.
    this.retire('the fork server is being replaced');
    this.start();
  }

  private pump(): void {
    if (this.inFlight) return;
    if (this.renewing && !this.stopped) this.renew();
    if (!this.available || !this.child?.connected) return;
    const h = this.queue.shift();
    if (!h) return;
    const ref = this.nextRef++;
    let ends: [number, number];
    try {
      ends = this.binding.socketpair();
    } catch (e) {
      h.done({ error: e instanceof Error ? e.message : String(e), socketLost: false });
      return this.pump();
    }
    const line = new LineChannel(new net.Socket({ fd: ends[0] }));
    const child = this.child;
    const timer = setTimeout(() => {
      if (this.inFlight?.ref !== ref || this.child !== child) return;
      this.opts.log('error', `fork server ${child.pid ?? '?'} did not answer a hand-off within ${FORK_REPLY_TIMEOUT_MS / 1000}s; killing it`);
      child.kill('SIGKILL');
    }, FORK_REPLY_TIMEOUT_MS);
    timer.unref();
    this.inFlight = { ...h, ref, line, timer };
    // Sending a handle closes it here once it is sent.
    child.send({ t: 'line', ref }, new net.Socket({ fd: ends[1] }));
    child.send({ ...h.msg, ref }, h.socket, (err) => {
      if (!err || this.inFlight?.ref !== ref) return;
      this.inFlight = undefined;
      clearTimeout(timer);
      line.close();
      h.done({ error: err.message, socketLost: true });
      this.pump();
    });
  }

  private fail(why: string): void {
    const h = this.inFlight;
    this.inFlight = undefined;
    if (h) {
      clearTimeout(h.timer);
      h.line.close();
      h.done({ error: why, socketLost: true });
    }
    for (const q of this.queue.splice(0)) q.done({ error: why, socketLost: false });
  }
}
