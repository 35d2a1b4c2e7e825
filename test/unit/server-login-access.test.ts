// AllowUsers, DenyUsers, AllowGroups, DenyGroups: sshd's order and pattern rules, without a daemon.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLoginAccess, type AccessRules } from '../../src/server/login-access';
import type { Account } from '../../src/server/passwd-lookup';

const alice: Account = { name: 'alice', uid: 1001, gid: 1001, gecos: '', home: '/home/alice', shell: '/bin/bash' };
const none: AccessRules = { AllowUsers: [], DenyUsers: [], AllowGroups: [], DenyGroups: [] };
const groups = async (): Promise<string[]> => ['alice', 'staff', 'dev-web'];

async function verdict(rules: Partial<AccessRules>, address = '192.0.2.7', account = alice): Promise<string> {
  try {
    await checkLoginAccess({ ...none, ...rules }, account, address, groups);
    return 'allowed';
  } catch (e) {
    const err = e as { code?: string; message: string };
    assert.equal(err.code, 'TLSSH_ERR_LOGIN_NOT_ALLOWED');
    return /\((\w+)\)$/.exec(err.message)?.[1] ?? err.message;
  }
}

test('no lists: everyone the certificate names', async () => {
  assert.equal(await verdict({}), 'allowed');
});

test('user lists: patterns, order (Deny first), negation and USER@ADDRESS', async () => {
  assert.equal(await verdict({ AllowUsers: ['bob', 'al*'] }), 'allowed');
  assert.equal(await verdict({ AllowUsers: ['bob'] }), 'AllowUsers');
  assert.equal(await verdict({ DenyUsers: ['a?ice'] }), 'DenyUsers');
  assert.equal(await verdict({ DenyUsers: ['alice'], AllowUsers: ['alice'] }), 'DenyUsers');
  assert.equal(await verdict({ DenyUsers: ['alice'], AllowUsers: ['bob'] }), 'DenyUsers', 'Deny is checked first: the refusal names it');
  assert.equal(await verdict({ AllowUsers: ['*', '!alice'] }), 'AllowUsers', 'a negated match refuses whatever else matches');
  assert.equal(await verdict({ AllowUsers: ['alice@192.0.2.0/24'] }), 'allowed');
  assert.equal(await verdict({ AllowUsers: ['alice@192.0.2.0/24'] }, '198.51.100.1'), 'AllowUsers');
  assert.equal(await verdict({ AllowUsers: ['alice@192.0.2.*'] }, '::ffff:192.0.2.9'), 'allowed', 'an IPv4-mapped address is its IPv4 one');
  assert.equal(await verdict({ AllowUsers: ['alice@2001:db8::/32'] }, '2001:db8::5'), 'allowed');
  assert.equal(await verdict({ AllowUsers: ['alice@2001:db8::/32'] }, '192.0.2.7'), 'AllowUsers');
  assert.equal(await verdict({ AllowUsers: ['alice@2001:DB8::*'] }, '2001:db8::5'), 'allowed', 'an address pattern ignores case, as hex digits do');
  assert.equal(await verdict({ DenyUsers: ['*@198.51.100.*'] }, '198.51.100.3'), 'DenyUsers');
  assert.equal(await verdict({ AllowUsers: ['ALICE'] }), 'AllowUsers', 'user names are case-sensitive');
});

test('group lists: any of the groups; Deny before Allow; unreadable groups refuse', async () => {
  assert.equal(await verdict({ AllowGroups: ['staff'] }), 'allowed');
  assert.equal(await verdict({ AllowGroups: ['dev-*'] }), 'allowed');
  assert.equal(await verdict({ AllowGroups: ['wheel'] }), 'AllowGroups');
  assert.equal(await verdict({ DenyGroups: ['staff'], AllowGroups: ['staff'] }), 'DenyGroups');
  assert.equal(await verdict({ DenyGroups: ['staff'], AllowGroups: ['wheel'] }), 'DenyGroups', 'Deny is checked first: the refusal names it');
  assert.equal(await verdict({ AllowUsers: ['alice'], DenyGroups: ['dev-web'] }), 'DenyGroups', 'users pass, then groups are checked');
  await assert.rejects(
    checkLoginAccess({ ...none, AllowGroups: ['staff'] }, alice, '192.0.2.7', async () => { throw new Error('no NSS'); }),
    /cannot read the groups of alice/,
  );
  let asked = false;
  await checkLoginAccess({ ...none, AllowUsers: ['alice'] }, alice, '192.0.2.7', async () => { asked = true; return []; });
  assert.equal(asked, false, 'groups are not looked up without a group rule');
});
