// The privilege drop's own checks, with credentials that misbehave on purpose: a kernel or libc
// that left the saved uid at 0, or ids that are not the account's after the drop, must stop the
// session with TLSSH_ERR_PRIVILEGE_DROP. The real drop is tested as root in server-root-login.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropPrivileges, type ProcessCredentials } from '../../src/server/privilege-drop';
import type { Account } from '../../src/server/passwd-lookup';

const alice: Account = { name: 'alice', uid: 1000, gid: 1000, gecos: '', home: '/home/alice', shell: '/bin/sh' };

/** Root that drops as asked; `quirk` changes one thing afterwards. */
function creds(quirk: { regainRoot?: boolean; staleEgid?: boolean; staleEuid?: boolean } = {}): ProcessCredentials & { calls: string[] } {
  let uid = 0;
  let gid = 0;
  const calls: string[] = [];
  return {
    calls,
    getuid: () => uid,
    geteuid: () => (quirk.staleEuid ? 0 : uid),
    getgid: () => gid,
    getegid: () => (quirk.staleEgid ? 0 : gid),
    getgroups: () => [gid],
    initgroups: (user, g) => void calls.push(`initgroups ${user} ${g}`),
    setgid: (g) => {
      calls.push(`setgid ${g}`);
      gid = g;
    },
    setuid: (u) => {
      calls.push(`setuid ${u}`);
      if (uid !== 0 && u === 0 && !quirk.regainRoot) throw new Error('EPERM');
      uid = u;
    },
  };
}

test('drops in order, groups first, and checks that root cannot be regained', () => {
  const c = creds();
  dropPrivileges(alice, c);
  assert.deepEqual(c.calls, ['initgroups alice 1000', 'setgid 1000', 'setuid 1000', 'setuid 0']);
});

test('root that can be regained after the drop stops the session', () => {
  assert.throws(() => dropPrivileges(alice, creds({ regainRoot: true })), { code: 'TLSSH_ERR_PRIVILEGE_DROP', message: /root could be regained/ });
});

test('an effective uid or gid left at 0 stops the session', () => {
  assert.throws(() => dropPrivileges(alice, creds({ staleEuid: true })), { code: 'TLSSH_ERR_PRIVILEGE_DROP', message: /uid 1000\/0/ });
  assert.throws(() => dropPrivileges(alice, creds({ staleEgid: true })), { code: 'TLSSH_ERR_PRIVILEGE_DROP', message: /gid 1000\/0/ });
});
