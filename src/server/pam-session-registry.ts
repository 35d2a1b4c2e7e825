// The PAM sessions the root listener must close, kept as one small file per session in
// <RuntimeDir>/pam-sessions, so that a listener started later (a restart or an upgrade, which
// keeps sessions running) still closes the sessions an earlier listener saw open. The same
// scheme as the login records (login-records.ts): a record names the session's worker by pid
// and start time, so a recycled pid is never taken for the session.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { processStartTime } from './login-records';
import type { PamTarget } from './pam-session';

export interface PamSessionRecord extends PamTarget {
  /** The worker, the session's parent; the session ends with it. */
  pid: number;
  /** /proc/<pid>/stat starttime. */
  startTime: string;
}

export interface PamSessionRegistryOptions {
  /** Directory for the records; "" keeps them in memory only. */
  stateDir: string;
  /** pam_close_session and friends; returns a problem for the log, or undefined. */
  close: (t: PamTarget) => string | undefined;
  log: (level: 'error' | 'info' | 'verbose', message: string) => void;
  pollMs?: number;
}

export class PamSessionRegistry {
  private readonly open = new Map<number, PamSessionRecord>();
  private readonly adopted = new Set<number>();
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PamSessionRegistryOptions) {}

  /** A worker opened a PAM session (it said so while still root). */
  opened(pid: number, t: PamTarget): void {
    const r: PamSessionRecord = { ...t, pid, startTime: processStartTime(pid) ?? '' };
    this.open.set(pid, r);
    this.save(r);
  }

  /** The session's terminal, for PAM_TTY at close (sshd sets it once the tty exists). */
  setTty(pid: number, tty: string): void {
    const r = this.open.get(pid);
    if (!r || r.tty === tty) return;
    r.tty = tty;
    this.save(r);
  }

  /** The worker ended: close its PAM session, if it had one. */
  ended(pid: number): void {
    const r = this.open.get(pid);
    if (!r) return;
    this.open.delete(pid);
    this.adopted.delete(pid);
    this.closeNow(r);
  }

  /** Close the sessions of earlier listeners whose workers are gone; watch the others. */
  adoptOrphans(): void {
    const dir = this.opts.stateDir;
    if (!dir) return;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!/^\d+\.json$/.test(name)) continue;
      let r: PamSessionRecord;
      try {
        r = parseRecord(fs.readFileSync(path.join(dir, name), 'utf8'));
      } catch (e) {
        this.opts.log('error', `ignoring unreadable PAM session record ${name}: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      if (this.open.has(r.pid)) continue;
      if (r.startTime !== '' && processStartTime(r.pid) === r.startTime) {
        this.open.set(r.pid, r);
        this.adopted.add(r.pid);
        this.opts.log('info', `watching PAM session of ${r.user} (pid ${r.pid}) opened under an earlier listener`);
      } else {
        this.closeNow(r);
      }
    }
    this.startPolling();
  }

  stop(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  private closeNow(r: PamSessionRecord): void {
    const problem = this.opts.close(r);
    if (problem) this.opts.log('error', `PAM session of ${r.user} (pid ${r.pid}): ${problem}`);
    else this.opts.log('verbose', `PAM session of ${r.user} (pid ${r.pid}) closed`);
    this.remove(r.pid);
  }

  private startPolling(): void {
    if (this.poller || this.adopted.size === 0) return;
    this.poller = setInterval(() => {
      for (const pid of [...this.adopted]) {
        const r = this.open.get(pid);
        if (!r || processStartTime(pid) !== r.startTime) this.ended(pid);
      }
      if (this.adopted.size === 0) this.stop();
    }, this.opts.pollMs ?? 2000);
    this.poller.unref();
  }

  private save(r: PamSessionRecord): void {
    const dir = this.opts.stateDir;
    if (!dir) return;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = path.join(dir, `.${r.pid}.tmp`);
      fs.writeFileSync(tmp, JSON.stringify(r), { mode: 0o600 });
      fs.renameSync(tmp, path.join(dir, `${r.pid}.json`));
    } catch (e) {
      // The session still gets closed by this listener; only a restart would miss it.
      this.opts.log('error', `cannot keep the PAM session record of pid ${r.pid}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private remove(pid: number): void {
    if (!this.opts.stateDir) return;
    fs.rmSync(path.join(this.opts.stateDir, `${pid}.json`), { force: true });
  }
}

function parseRecord(text: string): PamSessionRecord {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null) throw new Error('not an object');
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw new Error(`field ${k} missing`);
    return o[k] as string;
  };
  const pid = o['pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) throw new Error('bad pid');
  return { pid, startTime: str('startTime'), service: str('service'), user: str('user'), rhost: str('rhost'), tty: str('tty') };
}
