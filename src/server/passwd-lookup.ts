// Account lookup through NSS (`getent passwd`), so LDAP/sssd users work exactly as for sshd.
// Node has no getpwnam(); one short-lived getent per login costs a couple of milliseconds.

import { execFile } from 'node:child_process';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

/** Portable user names: no leading digit or dash, so getent never reads it as a uid or option. */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

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

/** The account called `name`, or undefined when NSS knows no such user. */
export function lookupUser(name: string): Promise<Account | undefined> {
  if (!isValidUserName(name)) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    execFile('getent', ['passwd', name], { timeout: 10_000, maxBuffer: 64 * 1024 }, (err, stdout) => {
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
