// Account lookup with NSS's answer, so LDAP/sssd users work exactly as for sshd. Node has no
// getpwnam(), so NSS is asked through `getent passwd NAME`, unless nsswitch.conf lets the passwd
// file answer first (nss-files.ts), which is then read directly: the common case costs no fork.

import { execFile } from 'node:child_process';
import { USER_NAME } from '../user-name';
import { fromNssFile } from './nss-files';

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

/** The account from the passwd file when NSS would answer from it; undefined: ask getent. */
export function fromPasswdFile(name: string, src: Pick<LookupSources, 'nsswitch' | 'passwd'>): Account | undefined {
  return fromNssFile(name, 'passwd', { nsswitch: src.nsswitch, file: src.passwd }, (line) => {
    const acct = parsePasswdLine(line);
    // glibc skips a line it cannot parse, or whose ids do not fit 32 bits, and reads on: getent then.
    return acct && acct.uid <= 0xfffffffe && acct.gid <= 0xfffffffe ? acct : undefined;
  });
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
