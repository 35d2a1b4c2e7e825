// Account lookup with NSS's answer, so LDAP/sssd users work exactly as for sshd. Node has no
// getpwnam(), so NSS is asked through `getent passwd NAME`: a fork of the asking process and an
// exec, measured at ~2 ms of a worker's CPU for the fork and 3-4 ms of the login's time, in
// every login (and in the listener for every terminal a worker reports).
//
// When nsswitch.conf puts `files` first for passwd with no action after it, NSS itself answers
// from /etc/passwd whenever the name is there, before any other source: the same answer is then
// read from the file directly. Anything else (another source first, an action such as
// [SUCCESS=continue], compat's +/- lines, a name not in the file, a file that cannot be read)
// goes to getent as before.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { USER_NAME } from '../user-name';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

export function parsePasswdLine(line: string): Account | undefined {
  const f = line.replace(/\r?\n$/, '').split(':');
  if (f.length !== 7) return undefined;
  const [name = '', , uidText = '', gidText = '', gecos = '', home = '', shell = ''] = f;
  const uid = Number(uidText);
  const gid = Number(gidText);
  if (!/^\d+$/.test(uidText) || !/^\d+$/.test(gidText) || !Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) return undefined;
  return { name, uid, gid, gecos, home, shell };
}

/** Where the lookup reads; tests point these at files of their own. */
export interface LookupSources {
  nsswitch: string;
  passwd: string;
  getent: string;
}

const SYSTEM: LookupSources = { nsswitch: '/etc/nsswitch.conf', passwd: '/etc/passwd', getent: 'getent' };

/**
 * True when NSS answers passwd lookups from the files first and stops there when found. Only a
 * plain line counts: glibc takes the last of several passwd lines, a colon is optional, and a #
 * after the start is part of a service name, so anything but exactly one line of the form
 * `passwd: files ...` (spaces or tabs, no # or CR, no action after files) answers false.
 */
export function filesAnswerFirst(nsswitchText: string): boolean {
  const lines = nsswitchText.split('\n').filter((raw) => /^[ \t]*passwd/.test(raw));
  if (lines.length !== 1) return false;
  const m = /^[ \t]*passwd:[ \t]*([^#\r]*)$/.exec(lines[0]!);
  if (!m) return false;
  const sources = (m[1] ?? '').split(/[ \t]+/).filter(Boolean);
  return sources[0] === 'files' && !(sources[1] ?? '').startsWith('[');
}

/** The account from the passwd file when NSS would answer from it; undefined: ask getent. */
export function fromPasswdFile(name: string, src: Pick<LookupSources, 'nsswitch' | 'passwd'>): Account | undefined {
  let nsswitch: string;
  let passwd: string;
  try {
    nsswitch = fs.readFileSync(src.nsswitch, 'utf8');
    if (!filesAnswerFirst(nsswitch)) return undefined;
    passwd = fs.readFileSync(src.passwd, 'utf8');
  } catch {
    return undefined;
  }
  // What glibc's parser reads differently from a split on ':' (a NUL ends its strings, it strips
  // leading blanks) is never guessed at: getent answers such files.
  if (passwd.includes('\0')) return undefined;
  for (const line of passwd.split('\n')) {
    if (/^[ \t\v\f\r]/.test(line)) return undefined;
    // NIS compat entries are for the compat source; never guess at them.
    if (line.startsWith('+') || line.startsWith('-')) return undefined;
    // NSS's files source takes the first entry with the name.
    if (line.split(':', 1)[0] !== name) continue;
    const acct = parsePasswdLine(line);
    // glibc skips a line it cannot parse, or whose ids do not fit 32 bits, and reads on: getent then.
    return acct && acct.uid <= 0xfffffffe && acct.gid <= 0xfffffffe ? acct : undefined;
  }
  return undefined;
}

/** The account called `name`, or undefined when NSS knows no such user. */
export function lookupUser(name: string, src: LookupSources = SYSTEM): Promise<Account | undefined> {
  if (!isValidUserName(name)) return Promise.resolve(undefined);
  const local = fromPasswdFile(name, src);
  if (local !== undefined) return Promise.resolve(local);
  return new Promise((resolve, reject) => {
    execFile(src.getent, ['passwd', name], { timeout: 10_000, maxBuffer: 64 * 1024 }, (err, stdout) => {
      if (err) {
        // getent exits 2 for "not found"; anything else is a lookup failure worth reporting.
        const code: unknown = (err as { code?: unknown }).code;
        if (code === 2) return resolve(undefined);
        return reject(err);
      }
      const acct = parsePasswdLine(stdout.split('\n')[0] ?? '');
      // Compare names: NSS modules may match case-insensitively or by alias.
      resolve(acct && acct.name === name ? acct : undefined);
    });
  });
}
