// Certificate -> local account, the original tlsshd's rule: the subject CN is
// "<user>.<ClientDomain>"; with ClientDomain empty the whole CN is the user name. A subject with
// more than one CN is refused: which of them names the user would depend on order, and
// "CN=bob, CN=alice" must never log in as bob for a CA that meant alice. The account
// must exist, and then the daemon's own policy (PermitRootLogin, non-root daemon) applies.

import { TlsshError } from '../errors';
import { isValidUserName, lookupUser, type Account } from './passwd-lookup';

export interface PolicyInput {
  /** Subject CNs in certificate order. */
  commonNames: readonly string[];
  clientDomain: string;
  /** User the client asked for ("user@host"); "" for none. */
  requestedUser: string;
  permitRootLogin: boolean | 'forced-commands-only';
  /** ForceCommand is set: what PermitRootLogin forced-commands-only asks for. */
  forcedCommand: boolean;
  /** uid the daemon runs as. */
  daemonUid: number;
}

/** The user name a certificate speaks for, or a TLSSH_ERR_CERT_USER error. */
export function userFromCommonNames(commonNames: readonly string[], clientDomain: string): string {
  if (commonNames.length > 1) {
    throw new TlsshError('TLSSH_ERR_CERT_USER', `client certificate subject has ${commonNames.length} CNs; exactly one must name the user`);
  }
  const cn = commonNames[0];
  if (cn === undefined || cn === '') throw new TlsshError('TLSSH_ERR_CERT_USER', 'client certificate has no subject CN');
  let user = cn;
  if (clientDomain !== '') {
    const suffix = `.${clientDomain.replace(/^\./, '')}`;
    if (cn.length <= suffix.length || cn.slice(-suffix.length).toLowerCase() !== suffix.toLowerCase()) {
      throw new TlsshError('TLSSH_ERR_CERT_USER', `certificate CN is not in the client domain ${clientDomain}`);
    }
    user = cn.slice(0, -suffix.length);
  }
  if (!isValidUserName(user)) throw new TlsshError('TLSSH_ERR_CERT_USER', 'certificate CN does not name a valid user');
  return user;
}

/** Apply every login rule; resolves to the account or rejects with the refusal's TlsshError. */
export async function authorizeUser(p: PolicyInput, lookup: (name: string) => Promise<Account | undefined> = lookupUser): Promise<Account> {
  const name = userFromCommonNames(p.commonNames, p.clientDomain);
  if (p.requestedUser !== '' && p.requestedUser !== name) {
    throw new TlsshError('TLSSH_ERR_USER_MISMATCH', `certificate is for user ${name}, not ${p.requestedUser.slice(0, 64)}`);
  }
  let acct: Account | undefined;
  try {
    acct = await lookup(name);
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_NO_SUCH_USER', `user lookup failed for ${name}`, { cause: e });
  }
  if (!acct) throw new TlsshError('TLSSH_ERR_NO_SUCH_USER', `no such user: ${name}`);
  if (acct.uid === 0 && p.permitRootLogin !== true) {
    if (p.permitRootLogin === false) throw new TlsshError('TLSSH_ERR_ROOT_LOGIN_REFUSED', `root login refused for ${name} (PermitRootLogin no)`);
    if (!p.forcedCommand) {
      throw new TlsshError('TLSSH_ERR_ROOT_LOGIN_REFUSED', `root login refused for ${name} (PermitRootLogin forced-commands-only, and no ForceCommand)`);
    }
  }
  if (p.daemonUid !== 0 && acct.uid !== p.daemonUid) {
    throw new TlsshError('TLSSH_ERR_NOT_DAEMON_USER', `this tlsshd runs as uid ${p.daemonUid} and serves only that user, not ${name}`);
  }
  return acct;
}
