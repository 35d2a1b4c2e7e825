// Become the user for good: supplementary groups (initgroups), then gid, then uid, in that
// order because each step needs the privilege the next one gives up. Afterwards every id is
// checked, and regaining root must fail; otherwise the session does not start.

import { TlsshError } from '../errors';
import type { Account } from './passwd-lookup';

export interface ProcessCredentials {
  getuid(): number;
  geteuid(): number;
  getgid(): number;
  getegid(): number;
  getgroups(): number[];
  initgroups(user: string, gid: number): void;
  setgid(id: number): void;
  setuid(id: number): void;
}

function nodeCredentials(): ProcessCredentials {
  // @types/node leaves out initgroups, which Node has on POSIX.
  const p = process as NodeJS.Process & { initgroups?: (user: string, gid: number) => void };
  if (!p.getuid || !p.geteuid || !p.getgid || !p.getegid || !p.getgroups || !p.initgroups || !p.setgid || !p.setuid) {
    throw new TlsshError('TLSSH_ERR_PRIVILEGE_DROP', 'this platform has no POSIX credentials');
  }
  return {
    getuid: p.getuid.bind(p), geteuid: p.geteuid.bind(p), getgid: p.getgid.bind(p), getegid: p.getegid.bind(p),
    getgroups: p.getgroups.bind(p), initgroups: p.initgroups.bind(p), setgid: p.setgid.bind(p), setuid: p.setuid.bind(p),
  };
}

/**
 * Drop from root to `acct`. A daemon not running as root has nothing to drop (it serves only its
 * own user, checked earlier); it only verifies it really is that user.
 */
export function dropPrivileges(acct: Account, creds: ProcessCredentials = nodeCredentials()): void {
  try {
    if (creds.geteuid() === 0) {
      creds.initgroups(acct.name, acct.gid);
      creds.setgid(acct.gid);
      creds.setuid(acct.uid);
    }
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_PRIVILEGE_DROP', `cannot become ${acct.name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const ids = [creds.getuid(), creds.geteuid()];
  const gids = [creds.getgid(), creds.getegid()];
  if (ids.some((id) => id !== acct.uid) || gids.some((g) => g !== acct.gid)) {
    throw new TlsshError('TLSSH_ERR_PRIVILEGE_DROP', `credentials after the drop are uid ${ids.join('/')} gid ${gids.join('/')}, want ${acct.uid}/${acct.gid}`);
  }
  if (acct.uid !== 0) {
    // setuid() as root also sets the saved uid; if it somehow did not, this would succeed.
    let regained = false;
    try {
      creds.setuid(0);
      regained = true;
    } catch {
      // expected
    }
    if (regained) throw new TlsshError('TLSSH_ERR_PRIVILEGE_DROP', 'root could be regained after the drop');
  }
}
