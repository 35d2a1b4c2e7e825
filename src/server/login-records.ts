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
// Root writes and later believes those files, so they are never reached through a symlink
// (created O_EXCL|O_NOFOLLOW, read O_NOFOLLOW), and a listener adopts only a record it can
// validate: a regular file of ours, mode 0600, well-formed, naming its own pid, matching a live
// login in utmp, and, while its process runs, naming a tlsshd worker. Anything else is dropped
// without a utmp or wtmp write.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LASTLOG_PATH, writeLastLogin } from './lastlog';
import { isValidUserName, lookupUser } from './passwd-lookup';
import { assertPrivateDirectory } from './runtime-dir';
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
  /** /var/log/lastlog; "" keeps none. */
  lastlogPath?: string;
  /** Directory for per-session state files; "" keeps state in memory only. */
  stateDir: string;
  log: (level: 'error' | 'info' | 'debug', message: string) => void;
  /** How often to look at sessions that are not our children. */
  pollMs?: number;
}

/** Far more than a record needs; a bigger file is not one of ours. */
const MAX_STATE_FILE = 4096;

/** Script name of a tlsshd worker process (its argv[1]); see listener.ts WORKER_ENTRY. */
const WORKER_SCRIPT = 'worker-main.js';

/**
 * Whether `user` owns the terminal /dev/<line>: what a worker (the user by then) reports is
 * believed only then, and a record left by an earlier listener is adopted only then.
 */
export async function userOwnsTty(user: string, line: string): Promise<boolean> {
  return (await ttyOwner(user, line)) !== undefined;
}

/** `user`'s uid when `user` owns /dev/<line> (userOwnsTty), else undefined. */
export async function ttyOwner(user: string, line: string): Promise<number | undefined> {
  if (!/^pts\/\d{1,6}$/.test(line)) return undefined;
  const [acct, st] = await Promise.all([lookupUser(user), fs.promises.lstat(`/dev/${line}`).catch(() => undefined)]);
  return acct !== undefined && st !== undefined && st.isCharacterDevice() && st.uid === acct.uid ? acct.uid : undefined;
}

/**
 * Whether `pid` is a tlsshd worker: argv[1] is our worker script, or, once the worker has set its
 * title (which overwrites the whole argv area: "tlsshd: alice@pts/3\0\0..."), its comm is
 * tlsshd, which the title code keeps (process-title.ts).
 */
export function isWorkerProcess(pid: number): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    if (path.basename(argv[1] ?? '') === WORKER_SCRIPT) return true;
    return /^tlsshd: /.test(argv[0] ?? '') && fs.readFileSync(`/proc/${pid}/comm`, 'latin1').trim() === 'tlsshd';
  } catch {
    return false;
  }
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
  /**
   * Open records by key: the worker's pid for its first PTY session (as before sessions were
   * shared), "<pid>-<N>" for pts/N when one worker holds several (tlssh/2+mux). The key is also
   * the state file's name.
   */
  private readonly open = new Map<string, StoredSession>();
  private chain: Promise<void> = Promise.resolve();
  private poller: NodeJS.Timeout | undefined;
  private readonly adopted = new Set<string>();

  constructor(private readonly opts: LoginRecordsOptions) {
    this.utmpPath = opts.utmpPath ?? UTMP_PATH;
    this.wtmpPath = opts.wtmpPath ?? WTMP_PATH;
  }

  /**
   * Record a login; resolves once written (errors are logged, never thrown). `uid`, when the
   * caller has looked the account up already (ttyOwner), spares lastlog a second lookup.
   */
  login(info: LoginInfo, uid?: number): Promise<void> {
    const startTime = processStartTime(info.pid) ?? '';
    const s: StoredSession = { ...info, startTime };
    const key = this.open.has(String(info.pid)) ? lineKey(info.pid, info.line) : String(info.pid);
    this.open.set(key, s);
    return this.serial(async () => {
      const rec: UtmpRecord = {
        type: UT_TYPE.user, pid: info.pid, line: info.line, id: idForLine(info.line),
        user: info.user, host: info.host, session: 0, time: Date.now(), addr: info.host,
      };
      await this.writeUtmp(rec, (old) => old.id === rec.id && isSlotType(old.type));
      await this.appendWtmp(rec);
      await this.recordLastLogin(info, rec.time, uid);
      await this.saveState(s, key);
    });
  }

  /** lastlog(8)'s record of this terminal login, which the next interactive login shows (lastlog.ts). */
  private async recordLastLogin(info: LoginInfo, time: number, knownUid: number | undefined): Promise<void> {
    const file = this.opts.lastlogPath ?? LASTLOG_PATH;
    if (file === '') return;
    try {
      const uid = knownUid ?? (await lookupUser(info.user))?.uid;
      if (uid !== undefined) await writeLastLogin(uid, { time, line: info.line, host: info.host }, file);
    } catch (e) {
      // A system without lastlog (ENOENT) is not an error; anything else is worth saying once per login.
      const code = (e as NodeJS.ErrnoException).code;
      this.opts.log(code === 'ENOENT' ? 'debug' : 'error', `lastlog not written for ${info.user}: ${code ?? (e as Error).message}`);
    }
  }

  /** Close the records of a process that ended (every session of a worker); no-op for pids without one. */
  logout(pid: number): Promise<void> {
    const keys = [...this.open.keys()].filter((k) => this.open.get(k)?.pid === pid);
    return Promise.all(keys.map((k) => this.logoutKey(k))).then(() => undefined);
  }

  /** Close the record of one session of `pid` on `line` (a shared connection's session ended). */
  logoutLine(pid: number, line: string): Promise<void> {
    const key = [...this.open.keys()].find((k) => this.open.get(k)?.pid === pid && this.open.get(k)?.line === line);
    return key === undefined ? Promise.resolve() : this.logoutKey(key);
  }

  /** Whether `pid` has a record open (on `line`, when given). */
  isOpen(pid: number, line?: string): boolean {
    for (const s of this.open.values()) if (s.pid === pid && (line === undefined || s.line === line)) return true;
    return false;
  }

  private logoutKey(key: string): Promise<void> {
    const s = this.open.get(key);
    if (!s) return Promise.resolve();
    this.open.delete(key);
    this.adopted.delete(key);
    return this.serial(() => this.writeLogout(s, key));
  }

  /**
   * Pick up sessions recorded by an earlier listener: close those whose process is gone, and
   * watch the rest until they end.
   */
  adoptOrphans(): Promise<void> {
    return this.serial(async () => {
      const dir = this.opts.stateDir;
      if (!dir) return;
      try {
        // Never read records from a directory someone else could have written (or a symlink to one).
        assertPrivateDirectory(dir, process.geteuid?.() ?? 0, 'session records directory');
      } catch (e) {
        if (!lexists(dir)) return; // no session was ever recorded
        this.opts.log('error', `not adopting earlier sessions: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      let names: string[];
      try {
        names = await fs.promises.readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (!/^\d+(-\d+)?\.json$/.test(name)) continue;
        const key = name.slice(0, -'.json'.length);
        const s = await this.validStored(dir, name);
        if (!s || this.open.has(key)) continue;
        const alive = s.startTime !== '' && processStartTime(s.pid) === s.startTime;
        const distrust = !alive ? undefined
          : !isWorkerProcess(s.pid) ? `process ${s.pid} is not a tlsshd worker`
            : !(await userOwnsTty(s.user, s.line)) ? `${s.user} does not own ${s.line}`
              : undefined;
        if (distrust) {
          this.opts.log('error', `ignoring session record ${name}: ${distrust}`);
          await this.removeState(key);
          continue;
        }
        this.open.set(key, s);
        if (alive) {
          this.adopted.add(key);
          this.opts.log('info', `watching session of ${s.user} on ${s.line} (pid ${s.pid}) started by an earlier listener`);
        } else {
          this.open.delete(key);
          await this.writeLogout(s, key);
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
      for (const key of [...this.adopted]) {
        const s = this.open.get(key);
        if (!s || processStartTime(s.pid) !== s.startTime) void this.logoutKey(key);
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

  private async writeLogout(s: StoredSession, key: string): Promise<void> {
    const rec: UtmpRecord = {
      type: UT_TYPE.dead, pid: s.pid, line: s.line, id: idForLine(s.line),
      user: '', host: '', session: 0, time: Date.now(), addr: '',
    };
    await this.writeUtmp(rec, (old) => old.id === rec.id && old.type === UT_TYPE.user && old.pid === s.pid, false);
    await this.appendWtmp(rec);
    await this.removeState(key);
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

  /**
   * A session record another listener left, or undefined (logged) when it is not one we can
   * trust: reached through a symlink, not a regular file of ours of mode 0600, too big,
   * malformed, naming another pid than its file name, or without a matching live login in utmp.
   * Untrusted files are removed, so they are reported once.
   */
  private async validStored(dir: string, name: string): Promise<StoredSession | undefined> {
    const file = path.join(dir, name);
    const reject = async (why: string): Promise<undefined> => {
      this.opts.log('error', `ignoring session record ${name}: ${why}`);
      await fs.promises.rm(file, { force: true }).catch(() => undefined);
      return undefined;
    };
    let text: string;
    let fh: fs.promises.FileHandle | undefined;
    try {
      fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
      const st = await fh.stat();
      const euid = process.geteuid?.() ?? st.uid;
      if (!st.isFile()) return await reject('not a regular file');
      if (st.uid !== euid) return await reject(`owned by uid ${st.uid}, not ${euid}`);
      if ((st.mode & 0o077) !== 0) return await reject(`mode ${(st.mode & 0o777).toString(8)}, not 600`);
      if (st.size > MAX_STATE_FILE) return await reject(`${st.size} bytes`);
      const buf = Buffer.alloc(MAX_STATE_FILE + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return await reject(code === 'ELOOP' ? 'a symbolic link' : code ?? String(e));
    } finally {
      await fh?.close();
    }
    let s: StoredSession;
    try {
      s = parseStored(text);
    } catch (e) {
      return await reject(e instanceof Error ? e.message : String(e));
    }
    if (`${s.pid}.json` !== name && `${lineKey(s.pid, s.line)}.json` !== name) return await reject(`names pid ${s.pid}`);
    if (!(await this.utmpHasLogin(s))) return await reject(`no login of ${s.user} on ${s.line} by pid ${s.pid} in utmp`);
    return s;
  }

  /** Whether utmp holds the live login the record speaks for: the only one we would close. */
  private async utmpHasLogin(s: StoredSession): Promise<boolean> {
    let data: Buffer;
    try {
      data = await fs.promises.readFile(this.utmpPath);
    } catch {
      return false;
    }
    for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) {
      const r = decodeUtmp(data.subarray(off, off + UTMP_SIZE));
      if (r.type === UT_TYPE.user && r.pid === s.pid && r.line === s.line && r.user === s.user) return true;
    }
    return false;
  }

  private async saveState(s: StoredSession, key: string): Promise<void> {
    const dir = this.opts.stateDir;
    if (!dir) return;
    try {
      await fs.promises.mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const euid = process.geteuid?.() ?? 0;
    assertPrivateDirectory(dir, euid, 'session records directory');
    const tmp = path.join(dir, `.${key}.tmp`);
    // Never through a symlink or into a file someone else made: O_EXCL|O_NOFOLLOW, and a stale
    // temporary file (a crash mid-write, or anything planted there) is unlinked, not opened.
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(tmp, flags, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      await fs.promises.unlink(tmp);
      fh = await fs.promises.open(tmp, flags, 0o600);
    }
    try {
      await fh.writeFile(JSON.stringify(s));
    } finally {
      await fh.close();
    }
    // rename() replaces whatever is at the destination (a symlink included) without following it.
    await fs.promises.rename(tmp, path.join(dir, `${key}.json`));
  }

  private async removeState(key: string): Promise<void> {
    if (!this.opts.stateDir) return;
    await fs.promises.rm(path.join(this.opts.stateDir, `${key}.json`), { force: true });
  }
}

/** Key (and state file name) of a worker's second and later PTY sessions: "<pid>-<N>" for pts/N. */
function lineKey(pid: number, line: string): string {
  return `${pid}-${line.replace(/^pts\//, '')}`;
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
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
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
  const o = v as Record<string, unknown>;
  const str = (k: string, re: RegExp): string => {
    const x = o[k];
    if (typeof x !== 'string' || !re.test(x)) throw new Error(`field ${k} missing or malformed`);
    return x;
  };
  const pid = o['pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1 || pid > 0x3fffffff) throw new Error('bad pid');
  const user = str('user', /^.{1,64}$/s);
  if (!isValidUserName(user)) throw new Error('field user malformed');
  return {
    pid, user,
    line: str('line', /^pts\/\d{1,6}$/),
    host: str('host', /^[^\0]{0,256}$/),
    startTime: str('startTime', /^\d{0,20}$/),
  };
}
