// glibc `struct utmp` as stored in /var/run/utmp and /var/log/wtmp, for x86_64 Linux.
// The layout was checked with offsetof() against <utmp.h> on Debian 12 (glibc 2.36):
//   sizeof 384; ut_type@0 (int16), ut_pid@4 (int32), ut_line@8 [32], ut_id@40 [4],
//   ut_user@44 [32], ut_host@76 [256], ut_exit@332 (2 x int16), ut_session@336 (int32),
//   ut_tv@340 (int32 sec, int32 usec: 32-bit even on 64-bit, for file compatibility),
//   ut_addr_v6@348 (4 x int32, network order bytes), reserved@364 [20].
// Other architectures use the same file format on glibc (the 32-bit tv is deliberate), but
// we only claim what was measured.

import * as net from 'node:net';

export const UTMP_SIZE = 384;
export const UT_TYPE = { empty: 0, runLevel: 1, bootTime: 2, newTime: 3, oldTime: 4, init: 5, login: 6, user: 7, dead: 8 } as const;

const OFF = { type: 0, pid: 4, line: 8, id: 40, user: 44, host: 76, exit: 332, session: 336, tvSec: 340, tvUsec: 344, addr: 348 } as const;
const LEN = { line: 32, id: 4, user: 32, host: 256, addr: 16 } as const;

export interface UtmpRecord {
  type: number;
  pid: number;
  /** Device name without "/dev/", e.g. "pts/3". */
  line: string;
  /** Short id, unique per line (see idForLine). */
  id: string;
  user: string;
  host: string;
  session: number;
  /** Milliseconds since the epoch. */
  time: number;
  /** IPv4 or IPv6 address text, or "" for none. Written only; decodeUtmp leaves it "". */
  addr: string;
}

/** Writes `s` into a fixed-size field of a login record (utmp, wtmp, lastlog). */
export function putString(buf: Buffer, off: number, len: number, s: string): void {
  // Fields are fixed-size and need not be NUL-terminated when full, like glibc's strncpy.
  const bytes = Buffer.from(s, 'utf8').subarray(0, len);
  buf.fill(0, off, off + len);
  bytes.copy(buf, off);
}

/** Reads a fixed-size, NUL-padded field of a login record. */
export function getString(buf: Buffer, off: number, len: number): string {
  const field = buf.subarray(off, off + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/** sshd's rule: the last four characters of the line ("pts/3" -> "ts/3"). */
export function idForLine(line: string): string {
  return line.length > LEN.id ? line.slice(line.length - LEN.id) : line;
}

function putAddr(buf: Buffer, addr: string): void {
  buf.fill(0, OFF.addr, OFF.addr + LEN.addr);
  let a = addr;
  if (a.startsWith('::ffff:') && net.isIPv4(a.slice(7))) a = a.slice(7);
  if (net.isIPv4(a)) {
    a.split('.').forEach((octet, i) => buf.writeUInt8(Number(octet), OFF.addr + i));
  } else if (net.isIPv6(a)) {
    expandIpv6(a).forEach((g, i) => buf.writeUInt16BE(g, OFF.addr + i * 2));
  }
}

function expandIpv6(addr: string): number[] {
  const a = addr.replace(/%.*$/, ''); // zone index
  const [head = '', tail] = a.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const zeros = new Array<number>(8 - h.length - t.length).fill(0);
  return [...h, ...zeros, ...t].slice(0, 8);
}

export function encodeUtmp(r: UtmpRecord): Buffer {
  const buf = Buffer.alloc(UTMP_SIZE);
  buf.writeInt16LE(r.type, OFF.type);
  buf.writeInt32LE(r.pid, OFF.pid);
  putString(buf, OFF.line, LEN.line, r.line);
  putString(buf, OFF.id, LEN.id, r.id);
  putString(buf, OFF.user, LEN.user, r.user);
  putString(buf, OFF.host, LEN.host, r.host);
  buf.writeInt32LE(r.session, OFF.session);
  buf.writeInt32LE(Math.floor(r.time / 1000), OFF.tvSec);
  buf.writeInt32LE((r.time % 1000) * 1000, OFF.tvUsec);
  putAddr(buf, r.addr);
  return buf;
}

export function decodeUtmp(buf: Buffer): UtmpRecord {
  if (buf.length < UTMP_SIZE) throw new RangeError(`utmp record is ${buf.length} bytes, want ${UTMP_SIZE}`);
  return {
    type: buf.readInt16LE(OFF.type),
    pid: buf.readInt32LE(OFF.pid),
    line: getString(buf, OFF.line, LEN.line),
    id: getString(buf, OFF.id, LEN.id),
    user: getString(buf, OFF.user, LEN.user),
    host: getString(buf, OFF.host, LEN.host),
    session: buf.readInt32LE(OFF.session),
    time: buf.readInt32LE(OFF.tvSec) * 1000 + Math.floor(buf.readInt32LE(OFF.tvUsec) / 1000),
    addr: '',
  };
}
