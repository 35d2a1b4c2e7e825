// Login accounting (utmp and wtmp), done by the root listener on behalf of its workers, which
// have dropped root by the time they know their tty. Only PTY sessions are recorded, as sshd does.
//
// Locking: glibc serialises utmp writers with fcntl() record locks, which Node cannot take. We
// rely instead on (1) one promise chain per listener, so our own writes never interleave,
// (2) whole 384-byte records written with one positioned write at a record boundary, which a
// concurrent reader on a local filesystem sees either whole or not at all, and (3) O_APPEND for
// new slots and for wtmp, which the kernel keeps atomic against other appenders. The remaining
// race (another program taking the same free slot in the same instant) is the one sshd on
// platforms without locking lives with too.
//
// Each open record is also kept as a small file in <RuntimeDir>/sessions, so a listener started
// later (after an upgrade or a crash) can still write the logout of sessions it did not start.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { UTMP_SIZE, UT_TYPE, decodeUtmp, encodeUtmp, idForLine, type UtmpRecord } from './utmp-record';

export const UTMP_PATH = '/var/run/utmp';
export const WTMP_PATH = '/var/log/wtmp';

export interface LoginInfo {
  /** Process that owns the session; the record is closed when it ends. */
  pid: number;
  /** "pts/N". */
  line: string;
  user: string;
  /** Remote address text. */
  host: string;
}

interface StoredSession extends LoginInfo {
  /** /proc/<pid>/stat starttime, so a recycled pid is never mistaken for the session. */
  startTime: string;
}

export interface LoginRecordsOptions {
  utmpPath?: string;
  wtmpPath?: string;
  /** Directory for per-session state files; "" keeps state in memory only. */
  stateDir: string;
  log: (level: 'error' | 'info' | 'debug', message: string) => void;
  /** How often to look at sessions that are not our children. */
  pollMs?: number;
}

/** Start time of a process as the kernel reports it, or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

export class LoginRecords {
  private readonly utmpPath: string;
  private readonly wtmpPath: string;
  private readonly open = new Map<number, StoredSession>();
  private chain: Promise<void> = Promise.resolve();
  private poller: NodeJS.Timeout | undefined;
  private readonly adopted = new Set<number>();

  constructor(private readonly opts: LoginRecordsOptions) {
    this.utmpPath = opts.utmpPath ?? UTMP_PATH;
    this.wtmpPath = opts.wtmpPath ?? WTMP_PATH;
  }

  /** Record a login; resolves once written (errors are logged, never thrown). */
  login(info: LoginInfo): Promise<void> {
    const startTime = processStartTime(info.pid) ?? '';
    const s: StoredSession = { ...info, startTime };
    this.open.set(info.pid, s);
    return this.serial(async () => {
      const rec: UtmpRecord = {
        type: UT_TYPE.user, pid: info.pid, line: info.line, id: idForLine(info.line),
        user: info.user, host: info.host, session: 0, time: Date.now(), addr: info.host,
      };
      await this.writeUtmp(rec, (old) => old.id === rec.id && isSlotType(old.type));
      await this.appendWtmp(rec);
      await this.saveState(s);
    });
  }

  /** Close the record of a session whose process ended; no-op for pids without one. */
  logout(pid: number): Promise<void> {
    const s = this.open.get(pid);
    if (!s) return Promise.resolve();
    this.open.delete(pid);
    this.adopted.delete(pid);
    return this.serial(() => this.writeLogout(s));
  }

  isOpen(pid: number): boolean {
    return this.open.has(pid);
  }

  /**
   * Pick up sessions recorded by an earlier listener: close those whose process is gone, and
   * watch the rest until they end.
   */
  adoptOrphans(): Promise<void> {
    return this.serial(async () => {
      const dir = this.opts.stateDir;
      if (!dir) return;
      let names: string[];
      try {
        names = await fs.promises.readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (!/^\d+\.json$/.test(name)) continue;
        let s: StoredSession;
        try {
          s = parseStored(await fs.promises.readFile(path.join(dir, name), 'utf8'));
        } catch (e) {
          this.opts.log('error', `ignoring unreadable session record ${name}: ${String(e)}`);
          continue;
        }
        if (this.open.has(s.pid)) continue;
        this.open.set(s.pid, s);
        if (processStartTime(s.pid) === s.startTime && s.startTime !== '') {
          this.adopted.add(s.pid);
          this.opts.log('info', `watching session of ${s.user} on ${s.line} (pid ${s.pid}) started by an earlier listener`);
        } else {
          this.open.delete(s.pid);
          await this.writeLogout(s);
        }
      }
      this.startPolling();
    });
  }

  stop(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  /** Wait for pending writes (tests, shutdown). */
  flush(): Promise<void> {
    return this.serial(async () => {});
  }

  private startPolling(): void {
    if (this.poller || this.adopted.size === 0) return;
    this.poller = setInterval(() => {
      for (const pid of [...this.adopted]) {
        const s = this.open.get(pid);
        if (!s || processStartTime(pid) !== s.startTime) void this.logout(pid);
      }
      if (this.adopted.size === 0) this.stop();
    }, this.opts.pollMs ?? 2000);
    this.poller.unref();
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn).catch((e: unknown) => {
      this.opts.log('error', `login records: ${e instanceof Error ? e.message : String(e)}`);
    });
    this.chain = next;
    return next;
  }

  private async writeLogout(s: StoredSession): Promise<void> {
    const rec: UtmpRecord = {
      type: UT_TYPE.dead, pid: s.pid, line: s.line, id: idForLine(s.line),
      user: '', host: '', session: 0, time: Date.now(), addr: '',
    };
    await this.writeUtmp(rec, (old) => old.id === rec.id && old.type === UT_TYPE.user && old.pid === s.pid, false);
    await this.appendWtmp(rec);
    await this.removeState(s.pid);
  }

  /** Overwrite the first slot `match` accepts; append when none does (and `append` allows). */
  private async writeUtmp(rec: UtmpRecord, match: (old: UtmpRecord) => boolean, append = true): Promise<void> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.utmpPath, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !append) throw e;
      // Normally made at boot by systemd-tmpfiles; same owner and mode here.
      fh = await fs.promises.open(this.utmpPath, 'a+', 0o664);
      await chownUtmpGroup(this.utmpPath);
    }
    try {
      const data = await fh.readFile();
      const buf = encodeUtmp(rec);
      for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) {
        if (match(decodeUtmp(data.subarray(off, off + UTMP_SIZE)))) {
          await fh.write(buf, 0, UTMP_SIZE, off);
          return;
        }
      }
      if (append) await fs.promises.appendFile(this.utmpPath, buf);
    } finally {
      await fh.close();
    }
  }

  private async appendWtmp(rec: UtmpRecord): Promise<void> {
    await fs.promises.appendFile(this.wtmpPath, encodeUtmp(rec));
  }

  private async saveState(s: StoredSession): Promise<void> {
    const dir = this.opts.stateDir;
    if (!dir) return;
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.${s.pid}.tmp`);
    await fs.promises.writeFile(tmp, JSON.stringify(s), { mode: 0o600 });
    await fs.promises.rename(tmp, path.join(dir, `${s.pid}.json`));
  }

  private async removeState(pid: number): Promise<void> {
    if (!this.opts.stateDir) return;
    await fs.promises.rm(path.join(this.opts.stateDir, `${pid}.json`), { force: true });
  }
}

function isSlotType(t: number): boolean {
  return t === UT_TYPE.init || t === UT_TYPE.login || t === UT_TYPE.user || t === UT_TYPE.dead;
}

async function chownUtmpGroup(file: string): Promise<void> {
  try {
    const group = (await fs.promises.readFile('/etc/group', 'utf8')).split('\n').find((l) => l.startsWith('utmp:'));
    const gid = Number(group?.split(':')[2]);
    if (Number.isInteger(gid)) await fs.promises.chown(file, 0, gid);
  } catch {
    // Not root, or no utmp group: the file still works for us.
  }
}

function parseStored(text: string): StoredSession {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null) throw new Error('not an object');
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw new Error(`field ${k} missing`);
    return o[k] as string;
  };
  const pid = o['pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) throw new Error('bad pid');
  return { pid, line: str('line'), user: str('user'), host: str('host'), startTime: str('startTime') };
}
