// What tlsshctl knows of each session, kept in RuntimeDir/control-sessions/<pid>.json so that a
// restarted listener can still list, re-check and end the sessions of the one before it.
//
// Workers survive a listener restart (DESIGN §1), but their IPC channel was to the old listener,
// and they are the user by then: they cannot reach root's RuntimeDir to find the new one. So the
// new listener reads what the old one wrote (root's files, in a directory only root can write),
// believes a record only while its process is the same tlsshd worker (pid and kernel start time),
// and ends such a session with SIGUSR2, which a worker takes as tlsshctl kill's default order.
// Traffic counts and idle time are not known for those: the worker reported them to the old
// listener only.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SessionView } from './control-protocol';
import { isWorkerProcess, processStartTime } from './login-records';
import { assertPrivateDirectory } from './runtime-dir';

export interface StoredView {
  view: SessionView;
  startTime: string;
  /** Base64 DER, the client's certificate first (ipc-messages SessionInfoMessage.chain). */
  chain?: string[];
}

/** Largest record read back: a view plus a chain of 8 certificates fits easily. */
const MAX_RECORD = 256 * 1024;

export class SessionViewsStore {
  constructor(private readonly dir: string, private readonly log: (level: 'error' | 'info', message: string) => void) {}

  /** Records (or updates) a logged-in session; errors are logged, never thrown. */
  save(pid: number, view: SessionView, chain: string[] | undefined): void {
    if (!this.dir) return;
    const startTime = processStartTime(pid);
    if (startTime === undefined) return;
    try {
      if (!fs.existsSync(this.dir)) fs.mkdirSync(this.dir, { mode: 0o700 });
      assertPrivateDirectory(this.dir, process.geteuid?.() ?? 0, 'session views directory');
      const tmp = path.join(this.dir, `.${pid}.tmp`);
      fs.rmSync(tmp, { force: true });
      // O_EXCL|O_NOFOLLOW: never through a planted link; rename() replaces without following.
      const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      try {
        fs.writeSync(fd, JSON.stringify({ view, startTime, ...(chain ? { chain } : {}) } satisfies StoredView));
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, path.join(this.dir, `${pid}.json`));
    } catch (e) {
      this.log('error', `session view of worker ${pid}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  remove(pid: number): void {
    if (this.dir) fs.rmSync(path.join(this.dir, `${pid}.json`), { force: true });
  }

  /** The sessions an earlier listener recorded whose workers still run; stale records are removed. */
  adopt(): Map<number, StoredView> {
    const out = new Map<number, StoredView>();
    if (!this.dir || !fs.existsSync(this.dir)) return out;
    try {
      assertPrivateDirectory(this.dir, process.geteuid?.() ?? 0, 'session views directory');
    } catch (e) {
      this.log('error', `not adopting earlier sessions: ${e instanceof Error ? e.message : String(e)}`);
      return out;
    }
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^(\d+)\.json$/.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      const rec = this.read(path.join(this.dir, name));
      if (!rec || rec.view.pid !== pid || !isAlive(pid, rec.startTime)) {
        this.remove(pid);
        continue;
      }
      out.set(pid, rec);
    }
    if (out.size > 0) this.log('info', `adopted ${out.size} session(s) of an earlier listener: ${[...out.values()].map((r) => `conn ${r.view.id} (${r.view.user}, worker ${r.view.pid})`).join(', ')}`);
    return out;
  }

  private read(file: string): StoredView | undefined {
    try {
      const st = fs.lstatSync(file);
      if (!st.isFile() || st.size > MAX_RECORD) return undefined;
      const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<StoredView>;
      const v = o.view;
      if (typeof o.startTime !== 'string' || typeof v !== 'object' || v === null) return undefined;
      if (!Number.isSafeInteger(v.id) || !Number.isSafeInteger(v.pid) || typeof v.user !== 'string' || typeof v.remote !== 'string' || typeof v.started !== 'string') return undefined;
      if (o.chain !== undefined && (!Array.isArray(o.chain) || !o.chain.every((c) => typeof c === 'string'))) return undefined;
      return { view: v, startTime: o.startTime, ...(o.chain ? { chain: o.chain } : {}) };
    } catch {
      return undefined;
    }
  }
}

/** The same tlsshd worker as when it was recorded (pid and kernel start time: not a reused pid). */
export function isAlive(pid: number, startTime: string): boolean {
  return startTime !== '' && processStartTime(pid) === startTime && isWorkerProcess(pid);
}
