// AllowUsers, DenyUsers, AllowGroups and DenyGroups, with sshd's meaning: checked in that order
// (DenyUsers, AllowUsers, DenyGroups, AllowGroups) after the certificate names an account, and a
// login any of them refuses is refused. A user pattern may be USER@HOST, where HOST is matched
// against the client's address (a wildcard pattern, or an address or CIDR block); "!" before a
// pattern makes a match refuse it, whatever else in the list matches.

import { execFile } from 'node:child_process';
import { globToRegExp } from '../config/glob-pattern';
import { TlsshError } from '../errors';
import type { Account } from './passwd-lookup';
import { exemptMatcher, unmappedAddress } from './per-source';

export interface AccessRules {
  AllowUsers: readonly string[];
  DenyUsers: readonly string[];
  AllowGroups: readonly string[];
  DenyGroups: readonly string[];
}

/** A block (the config has checked it is an address and a prefix) or a wildcard pattern. */
function hostMatches(pattern: string, address: string): boolean {
  if (pattern.includes('/')) return exemptMatcher([pattern])(address);
  return globToRegExp(pattern, { ignoreCase: true, pathSegment: false }).test(address);
}

function nameMatches(pattern: string, name: string): boolean {
  return globToRegExp(pattern, { ignoreCase: false, pathSegment: false }).test(name);
}

/** sshd's pattern lists: true when a pattern matches and no negated pattern does. */
function listMatches(list: readonly string[], test: (pattern: string) => boolean): boolean {
  let matched = false;
  for (const entry of list) {
    const negated = entry.startsWith('!');
    if (!test(negated ? entry.slice(1) : entry)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function userMatches(list: readonly string[], user: string, address: string): boolean {
  return listMatches(list, (p) => {
    const at = p.indexOf('@');
    if (at < 0) return nameMatches(p, user);
    return nameMatches(p.slice(0, at), user) && hostMatches(p.slice(at + 1), address);
  });
}

/**
 * The account's group names, primary first, as NSS gives them (LDAP and sssd groups included),
 * from `id -Gn`: Node has no getgrouplist(). Asked only when a group rule is set.
 */
export function groupNamesOf(account: Account): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('id', ['-Gn', '--', account.name], { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout.trim().split(/\s+/).filter((g) => g !== ''));
    });
  });
}

const refused = (account: Account, keyword: string): TlsshError =>
  new TlsshError('TLSSH_ERR_LOGIN_NOT_ALLOWED', `user ${account.name} is not allowed to log in here (${keyword})`);

/** Resolves when the rules let `account` log in from `address`; rejects with why not. */
export async function checkLoginAccess(
  rules: AccessRules, account: Account, address: string, groups: (a: Account) => Promise<string[]> = groupNamesOf,
): Promise<void> {
  const from = unmappedAddress(address);
  if (rules.DenyUsers.length > 0 && userMatches(rules.DenyUsers, account.name, from)) throw refused(account, 'DenyUsers');
  if (rules.AllowUsers.length > 0 && !userMatches(rules.AllowUsers, account.name, from)) throw refused(account, 'AllowUsers');
  if (rules.DenyGroups.length === 0 && rules.AllowGroups.length === 0) return;
  let names: string[];
  try {
    names = await groups(account);
  } catch (e) {
    // Fails closed: a group rule that cannot be checked lets nobody in.
    throw new TlsshError('TLSSH_ERR_LOGIN_NOT_ALLOWED', `cannot read the groups of ${account.name} for AllowGroups/DenyGroups`, { cause: e });
  }
  const inGroups = (list: readonly string[]): boolean => names.some((g) => listMatches(list, (p) => nameMatches(p, g)));
  if (rules.DenyGroups.length > 0 && inGroups(rules.DenyGroups)) throw refused(account, 'DenyGroups');
  if (rules.AllowGroups.length > 0 && !inGroups(rules.AllowGroups)) throw refused(account, 'AllowGroups');
}
