// With UsePAM no, the account checks that PAM's account stack makes otherwise, as sshd makes them
// itself when PAM is off: an account that is locked (its shadow password starts with "!", as
// `passwd -l` and `usermod -L` leave it) or whose expiry date has passed is refused, even though
// the certificate never uses the password. An account that may log in without a password has
// "*" there, not "!". Users that NSS knows without a shadow entry are not checked, as in sshd.

import { execFile } from 'node:child_process';
import { TlsshError } from '../errors';
import { fromNssFile } from './nss-files';

export interface ShadowEntry {
  /** The password field: "!..." locked, "*" no password, "" none at all. */
  readonly password: string;
  /** Days since 1970-01-01 after which the account is expired; null: never. */
  readonly expireDay: number | null;
}

/** A `getent shadow NAME` line, or undefined when it is not a shadow line for `name`. */
export function parseShadowLine(line: string, name: string): ShadowEntry | undefined {
  const fields = line.replace(/\r?\n$/, '').split(':');
  if (fields.length !== 9 || fields[0] !== name) return undefined;
  const expire = fields[7] ?? '';
  // Empty or negative means no expiry; anything else that is not a day number is unreadable,
  // which the caller refuses rather than guess.
  if (expire !== '' && !/^-?\d{1,9}$/.test(expire)) return undefined;
  const day = expire === '' ? -1 : Number(expire);
  return { password: fields[1] ?? '', expireDay: day < 0 ? null : day };
}

/** Why sshd (UsePAM no) refuses this account on `today` (days since the epoch), or undefined. */
export function shadowRefusal(entry: ShadowEntry, today: number): 'account is locked' | 'account has expired' | undefined {
  if (entry.password.startsWith('!')) return 'account is locked';
  // As sshd: expired from the day after the one in the field.
  if (entry.expireDay !== null && today > entry.expireDay) return 'account has expired';
  return undefined;
}

/** Where the entry is read; tests point these at files of their own. */
export interface ShadowSources {
  nsswitch: string;
  shadow: string;
  getent: string;
}

const SYSTEM: ShadowSources = { nsswitch: '/etc/nsswitch.conf', shadow: '/etc/shadow', getent: 'getent' };

/**
 * The account's shadow entry through NSS (files, LDAP, sssd alike); undefined when it has none.
 * From /etc/shadow directly when nsswitch.conf lets the file answer first (nss-files.ts), through
 * `getent shadow` otherwise.
 */
export function readShadowEntry(name: string, src: ShadowSources = SYSTEM): Promise<ShadowEntry | undefined | 'unreadable'> {
  const local = fromNssFile(name, 'shadow', { nsswitch: src.nsswitch, file: src.shadow }, (line) => parseShadowLine(line, name));
  if (local !== undefined) return Promise.resolve(local);
  return new Promise((resolve) => {
    execFile(src.getent, ['shadow', '--', name], { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (err, stdout) => {
      resolve(shadowLookup(err === null ? null : { code: (err as { code?: unknown }).code }, stdout, name));
    });
  });
}

/**
 * What `getent shadow NAME` said: its status 2 is "no such entry" (not checked, as in sshd);
 * any other failure (1, a timeout's kill, no getent) is unreadable, which refuses the login.
 */
export function shadowLookup(err: { code?: unknown } | null, stdout: string, name: string): ShadowEntry | undefined | 'unreadable' {
  if (err !== null) return err.code === 2 ? undefined : 'unreadable';
  return parseShadowLine(stdout.split('\n')[0] ?? '', name) ?? 'unreadable';
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Rejects when sshd with UsePAM no would refuse `name`; fails closed when the entry cannot be read. */
export async function checkShadowAccount(
  name: string, read: (name: string) => Promise<ShadowEntry | undefined | 'unreadable'> = readShadowEntry, now: number = Date.now(),
): Promise<void> {
  const entry = await read(name);
  if (entry === undefined) return;
  if (entry === 'unreadable') {
    throw new TlsshError('TLSSH_ERR_LOGIN_NOT_ALLOWED', `user ${name} is not allowed to log in here (its shadow entry cannot be read)`);
  }
  const why = shadowRefusal(entry, Math.floor(now / DAY_MS));
  if (why === undefined) return;
  const e = new TlsshError('TLSSH_ERR_LOGIN_NOT_ALLOWED', `user ${name} is not allowed to log in here (${why})`);
  // The administrator's remedy goes to the log only.
  Object.assign(e, {
    logDetail: why === 'account is locked'
      ? `user ${name} is not allowed to log in here: account is locked (its shadow password starts with "!"); with UsePAM no, tlsshd refuses it as sshd does. An account that logs in only with its certificate takes "*": usermod -p '*' ${name}`
      : `user ${name} is not allowed to log in here: account has expired (shadow expiry day ${entry.expireDay ?? '?'}); chage -E to change it`,
  });
  throw e;
}
