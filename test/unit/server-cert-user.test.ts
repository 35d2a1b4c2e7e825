import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTlsshError } from '../../src/errors';
import { authorizeUser, userFromCommonNames } from '../../src/server/cert-user';
import type { Account } from '../../src/server/passwd-lookup';
import { lookupUser, parsePasswdLine } from '../../src/server/passwd-lookup';

const accounts: Record<string, Account> = {
  alice: { name: 'alice', uid: 1000, gid: 1000, gecos: '', home: '/home/alice', shell: '/bin/bash' },
  root: { name: 'root', uid: 0, gid: 0, gecos: '', home: '/root', shell: '/bin/bash' },
  // BSD's second root account: PermitRootLogin is about uid 0, not the name.
  toor: { name: 'toor', uid: 0, gid: 0, gecos: '', home: '/root', shell: '/bin/sh' },
};
const lookup = async (n: string): Promise<Account | undefined> => accounts[n];

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isTlsshError(e) ? e.code : `not a TlsshError: ${String(e)}`;
  }
}

const base = { commonNames: ['alice'], clientDomain: '', requestedUser: '', permitRootLogin: false as boolean | 'forced-commands-only', forcedCommand: false, daemonUid: 0 };

test('with ClientDomain empty the whole CN is the user', () => {
  assert.equal(userFromCommonNames(['alice'], ''), 'alice');
});

test('a subject with more than one CN maps to nobody, whatever their order', async () => {
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['alice', 'bob'] }, lookup)), 'TLSSH_ERR_CERT_USER');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['bob', 'alice'] }, lookup)), 'TLSSH_ERR_CERT_USER');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['alice', 'alice'] }, lookup)), 'TLSSH_ERR_CERT_USER');
});

test('with ClientDomain the CN must be user.<domain>', async () => {
  assert.equal(userFromCommonNames(['alice.clients.example'], 'clients.example'), 'alice');
  assert.equal(userFromCommonNames(['Alice.CLIENTS.example'], 'clients.example'), 'Alice');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['alice.other.example'], clientDomain: 'clients.example' }, lookup)), 'TLSSH_ERR_CERT_USER');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['clients.example'], clientDomain: 'clients.example' }, lookup)), 'TLSSH_ERR_CERT_USER');
  // The domain must end the CN, not merely appear in it.
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['alice.clients.example.evil.example'], clientDomain: 'clients.example' }, lookup)), 'TLSSH_ERR_CERT_USER');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['alice.clients.examplex'], clientDomain: 'clients.example' }, lookup)), 'TLSSH_ERR_CERT_USER');
});

test('names that are not user names, or no CN at all, are refused', async () => {
  // Digits alone and a leading dash would reach getent as a uid or an option; a leading dot or @,
  // spaces, slashes and other shell or path characters are never a user.
  for (const cn of [[], [''], ['0'], ['1234$'], ['-x'], ['.x'], ['@corp'], ['a b'], ['a/b'], ['a\\b'], ['a;b'], ['x'.repeat(257)], [`${'x'.repeat(256)}$`]]) {
    assert.equal(await code(authorizeUser({ ...base, commonNames: cn }, lookup)), 'TLSSH_ERR_CERT_USER', JSON.stringify(cn));
  }
});

test('directory users\' names map as they are: an @ in them, a leading digit, more than 32 characters', () => {
  // sssd's and winbind's fully qualified names, as `getent passwd` gives them.
  for (const name of ['alice@corp.example.com', '1stline', `u${'x'.repeat(60)}`, 'host$', 'x'.repeat(256), `${'x'.repeat(255)}$`]) {
    assert.equal(userFromCommonNames([name], ''), name);
  }
});

test('each refusal has its own code', async () => {
  assert.equal(await code(authorizeUser(base, lookup)), 'ok');
  assert.equal(await code(authorizeUser({ ...base, requestedUser: 'bob' }, lookup)), 'TLSSH_ERR_USER_MISMATCH');
  // User names are case-sensitive: Alice is another account than alice.
  assert.equal(await code(authorizeUser({ ...base, requestedUser: 'Alice' }, lookup)), 'TLSSH_ERR_USER_MISMATCH');
  assert.equal(await code(authorizeUser({ ...base, requestedUser: 'alice' }, lookup)), 'ok');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['nobody-here'] }, lookup)), 'TLSSH_ERR_NO_SUCH_USER');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['root'] }, lookup)), 'TLSSH_ERR_ROOT_LOGIN_REFUSED');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['root'], permitRootLogin: true }, lookup)), 'ok');
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['toor'] }, lookup)), 'TLSSH_ERR_ROOT_LOGIN_REFUSED');
  assert.equal(await code(authorizeUser({ ...base, daemonUid: 1234 }, lookup)), 'TLSSH_ERR_NOT_DAEMON_USER');
  assert.equal(await code(authorizeUser({ ...base, daemonUid: 1000 }, lookup)), 'ok');
});

test('PermitRootLogin forced-commands-only: root only while a ForceCommand is set; others as ever', async () => {
  const fco = { ...base, permitRootLogin: 'forced-commands-only' as const };
  const refused = authorizeUser({ ...fco, commonNames: ['root'] }, lookup);
  await assert.rejects(refused, (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_ROOT_LOGIN_REFUSED' && /forced-commands-only, and no ForceCommand/.test(e.message));
  assert.equal(await code(authorizeUser({ ...fco, commonNames: ['toor'] }, lookup)), 'TLSSH_ERR_ROOT_LOGIN_REFUSED');
  assert.equal(await code(authorizeUser({ ...fco, commonNames: ['root'], forcedCommand: true }, lookup)), 'ok');
  assert.equal(await code(authorizeUser(fco, lookup)), 'ok');
  // With no, a ForceCommand does not let root in.
  assert.equal(await code(authorizeUser({ ...base, commonNames: ['root'], forcedCommand: true }, lookup)), 'TLSSH_ERR_ROOT_LOGIN_REFUSED');
});

test('getent lookups: a real user, no such user, and a numeric name is never read as a uid', async () => {
  assert.equal((await lookupUser('root'))?.uid, 0);
  assert.equal(await lookupUser('tlssh-no-such-user-x'), undefined);
  assert.equal(await lookupUser('0'), undefined);
  assert.deepEqual(parsePasswdLine('a:x:1:2:G:/h:/bin/sh\n'), { name: 'a', uid: 1, gid: 2, gecos: 'G', home: '/h', shell: '/bin/sh' });
  assert.equal(parsePasswdLine('a:x:one:2:G:/h:/bin/sh'), undefined);
});
