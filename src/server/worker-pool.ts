// Warm workers: processes forked before their connection arrives, that have loaded their code and
// built the server's TLS context from the configuration (warm-tls.ts), so that a login does not
// wait for node to start, for OpenSSL's first context, or for the certificate files.
//
// Policy (PreforkWorkers min:max, PreforkIdleTimeout T; tlsshd.conf(5) says the same):
// - `min` workers are kept ready; each one taken by a connection is replaced at once.
// - A connection that finds no worker ready (a burst) doubles the number kept ready, up to `max`.
// - After T seconds without a connection, the number kept ready falls back to `min` and the
//   workers beyond it exit.
// - Workers beyond `min` are started only while MaxStartups has room for them (they would become
//   unauthenticated connections) and while the machine has MIN_FREE_MEMORY available: a pool
//   that grows must not be what pushes the host into swap.
// - A reload makes a new generation: every warm worker built for the old configuration exits and
//   is replaced, so the next login uses the new certificate, key, CA and CRL.

import type { ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { parseWorkerMessage, type WarmMessage } from './ipc-messages';

/** Extra warm workers (beyond min) are started only while this much memory is available. */
export const MIN_FREE_MEMORY = 256 * 1024 * 1024;

export interface PoolPolicy {
  min: number;
  max: number;
  /** Milliseconds without a connection before the pool shrinks back to `min`. */
  idleTimeoutMs: number;
}

export interface WorkerPoolOptions {
  /** Forks a worker (the listener wires its exit to forget()). */
  spawn(): ChildProcess;
  /** The warm-up message for `generation`, from the listener's current configuration. */
  warmMessage(generation: number): WarmMessage;
  policy(): PoolPolicy;
  /** How many more processes MaxStartups allows now (full minus the connections not logged in). */
  room(): number;
  log(line: string): void;
}

interface WarmWorker {
  child: ChildProcess;
  generation: number;
  /** It answered the warm-up: its TLS context is built. */
  warmed: boolean;
  onMessage: (m: unknown) => void;
}

export interface TakenWorker {
  child: ChildProcess;
  /** The configuration generation it was warmed for. */
  generation: number;
  /** False when it had not finished its warm-up (it then builds TLS itself). */
  warmed: boolean;
}

export class WorkerPool {
  private readonly warm: WarmWorker[] = [];
  private generation = 0;
  /** How many are kept ready now: min, or more after a burst. */
  private target: number;
  private shrinkTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.target = opts.policy().min;
  }

  /** The generation new connections belong to. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** For tlsshctl status. */
  view(): { warmWorkers: number; warmReady: number; warmTarget: number } {
    return { warmWorkers: this.warm.length, warmReady: this.warm.filter((w) => w.warmed).length, warmTarget: this.target };
  }

  /** A warm worker for a connection (a warmed one first), or undefined: fork one then. */
  take(): TakenWorker | undefined {
    const live = (w: WarmWorker): boolean => w.child.exitCode === null && w.child.signalCode === null && w.child.connected;
    const i = this.warm.findIndex((w) => w.warmed && live(w));
    const j = i >= 0 ? i : this.warm.findIndex(live);
    if (i < 0) this.grow();
    this.armShrink();
    if (j < 0) {
      this.fill();
      return undefined;
    }
    const [w] = this.warm.splice(j, 1);
    if (!w) return undefined;
    w.child.off('message', w.onMessage);
    this.fill();
    return { child: w.child, generation: w.generation, warmed: w.warmed };
  }

  /** A worker ended: if it was waiting here, it no longer is (it is not replaced until needed). */
  forget(child: object): void {
    const i = this.warm.findIndex((w) => w.child === child);
    if (i >= 0) this.warm.splice(i, 1);
  }

  /**
   * The configuration changed, or the log was opened again: warm workers set up before exit, and
   * new ones are warmed. `why` ends the log line ("of the old configuration").
   */
  retire(why = 'of the old configuration'): void {
    this.generation++;
    this.target = Math.max(this.opts.policy().min, Math.min(this.target, this.opts.policy().max));
    const old = this.warm.splice(0);
    for (const w of old) {
      w.child.off('message', w.onMessage);
      w.child.kill('SIGTERM');
    }
    if (old.length > 0) this.opts.log(`reload: ${old.length} warm worker(s) ${why} retired`);
    this.fill();
  }

  /** Starts workers until `target` are waiting (within MaxStartups and memory for the extras). */
  fill(): void {
    if (this.stopped) return;
    const { min } = this.opts.policy();
    while (this.warm.length < this.target) {
      const extra = this.warm.length >= min;
      if (extra && (this.warm.length >= this.opts.room() || os.freemem() < MIN_FREE_MEMORY)) break;
      this.add();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.shrinkTimer) clearTimeout(this.shrinkTimer);
    for (const w of this.warm.splice(0)) w.child.kill('SIGTERM');
  }

  private add(): void {
    const child = this.opts.spawn();
    const generation = this.generation;
    const w: WarmWorker = {
      child, generation, warmed: false,
      onMessage: (raw: unknown) => {
        const m = parseWorkerMessage(raw);
        if (m?.t === 'warmed' && m.generation === w.generation) w.warmed = true;
      },
    };
    child.on('message', w.onMessage);
    // Queued by node until the worker listens; it builds TLS as soon as its code has loaded.
    child.send(this.opts.warmMessage(generation), (err) => {
      if (err) this.opts.log(`warm worker ${child.pid ?? '?'}: ${err.message}`);
    });
    this.warm.push(w);
  }

  /** Nothing was ready for a connection: keep twice as many ready, up to max. */
  private grow(): void {
    const { max } = this.opts.policy();
    const next = Math.min(max, this.target === 0 ? 1 : this.target * 2);
    if (next > this.target) {
      this.opts.log(`prefork: no warm worker was ready; keeping ${next} ready (PreforkWorkers max ${max})`);
      this.target = next;
    }
  }

  private armShrink(): void {
    if (this.shrinkTimer) clearTimeout(this.shrinkTimer);
    this.shrinkTimer = undefined;
    const { min, idleTimeoutMs } = this.opts.policy();
    if (this.target <= min || idleTimeoutMs <= 0) return;
    this.shrinkTimer = setTimeout(() => this.shrink(), idleTimeoutMs);
    // The daemon's life does not depend on this timer.
    this.shrinkTimer.unref();
  }

  private shrink(): void {
    this.shrinkTimer = undefined;
    const { min, idleTimeoutMs } = this.opts.policy();
    this.target = min;
    // Those still starting go first, then the newest: the oldest have been warm longest.
    const extras = this.warm.length - min;
    if (extras <= 0) return;
    const order = [...this.warm].sort((a, b) => Number(a.warmed) - Number(b.warmed) || this.warm.indexOf(b) - this.warm.indexOf(a));
    const gone = order.slice(0, extras);
    for (const w of gone) {
      this.forget(w.child);
      w.child.off('message', w.onMessage);
      w.child.kill('SIGTERM');
    }
    this.opts.log(`prefork: ${Math.round(idleTimeoutMs / 1000)}s without a connection; ${gone.length} idle warm worker(s) ended, ${this.warm.length} kept ready`);
  }
}
