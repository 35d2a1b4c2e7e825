// /var/log/lastlog, as sshd keeps it (PrintLastLog): each uid's last terminal login, a record
// at offset uid × 292, read for the "Last login:" line of an interactive login and written by
// the root listener once the session has its terminal. Only terminal sessions are recorded, as
// sshd records them: a `tlssh host cmd` from cron must not bury the last real login.
//
// glibc's `struct lastlog` on x86_64 (and i386): ll_time int32 @0, ll_line [32] @4,
// ll_host [256] @36; sizeof 292, checked against <lastlog.h> on Debian 12, and the file here is a
// multiple of it. Other architectures lay it out differently; there tlsshd keeps no lastlog.

import * as fs from 'node:fs';
import { getString, putString } from './utmp-record';

export const LASTLOG_PATH = '/var/log/lastlog';
export const LASTLOG_SIZE = 292;
const OFF = { time: 0, line: 4, host: 36 } as const;
const LEN = { line: 32, host: 256 } as const;

/** Whether this machine's lastlog has the layout above. */
export const LASTLOG_KNOWN = process.arch === 'x64' || process.arch === 'ia32';

export interface LastLogin {
  /** Milliseconds since the epoch. */
  time: number;
  /** "pts/3". */
  line: string;
  host: string;
}

export function decodeLastlog(buf: Buffer): LastLogin | undefined {
  if (buf.length < LASTLOG_SIZE) return undefined;
  const seconds = buf.readUInt32LE(OFF.time);
  // 0 is "never logged in" (a hole in the sparse file reads as zeros).
  if (seconds === 0) return undefined;
  return { time: seconds * 1000, line: getString(buf, OFF.line, LEN.line), host: getString(buf, OFF.host, LEN.host) };
}

export function encodeLastlog(rec: LastLogin): Buffer {
  const buf = Buffer.alloc(LASTLOG_SIZE);
  // Unsigned, as the 32-bit field's readers take it past 2038.
  buf.writeUInt32LE(Math.floor(rec.time / 1000) >>> 0, OFF.time);
  putString(buf, OFF.line, LEN.line, rec.line);
  putString(buf, OFF.host, LEN.host, rec.host);
  return buf;
}

/** The last login of `uid`, or undefined (never, no file, another layout). Any user may read the file. */
export function readLastLogin(uid: number, file = LASTLOG_PATH): LastLogin | undefined {
  if (!LASTLOG_KNOWN || !Number.isSafeInteger(uid) || uid < 0) return undefined;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const buf = Buffer.alloc(LASTLOG_SIZE);
    const n = fs.readSync(fd, buf, 0, LASTLOG_SIZE, uid * LASTLOG_SIZE);
    return n === LASTLOG_SIZE ? decodeLastlog(buf) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Records a login of `uid`, as root. The file is never created (its absence means the system
 * keeps no lastlog) and never followed through a symlink, since root writes at an offset a user
 * chooses by their uid.
 */
export async function writeLastLogin(uid: number, rec: LastLogin, file = LASTLOG_PATH): Promise<void> {
  if (!LASTLOG_KNOWN || !Number.isSafeInteger(uid) || uid < 0) return;
  const handle = await fs.promises.open(file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    await handle.write(encodeLastlog(rec), 0, LASTLOG_SIZE, uid * LASTLOG_SIZE);
  } finally {
    await handle.close();
  }
}

/**
 * sshd's line: "Last login: Sat Nov 28 23:55:04 2026 from 192.0.2.7", in the server's local time
 * (ctime's form), without "from" when no host was recorded.
 */
export function lastLoginLine(rec: LastLogin): string {
  const d = new Date(rec.time);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
  const two = (n: number): string => String(n).padStart(2, '0');
  const when = `${day} ${month} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
  return rec.host === '' ? `Last login: ${when}` : `Last login: ${when} from ${rec.host}`;
}
