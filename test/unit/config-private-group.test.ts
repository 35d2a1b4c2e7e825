// The user-private-group rule that lets a group-writable ~/.tlssh/tlssh.conf through, over
// passwd and group entries as NSS gives them (the real lookups: config-client.test.ts).

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { privateGroupVerdict } from '../../src/config/file-permissions';

const users = [
  ['alice', 'x', '1001', '1001', '', '/home/alice', '/bin/bash'],
  ['bob', 'x', '1002', '1002', '', '/home/bob', '/bin/bash'],
];
const alicesGroup = ['alice', 'x', '1001', ''];

test("alice's own group, with no members listed or only alice, is hers", () => {
  assert.equal(privateGroupVerdict(1001, 1001, users, [alicesGroup]), true);
  assert.equal(privateGroupVerdict(1001, 1001, users, [['alice', 'x', '1001', 'alice']]), true);
});

test('a group that lists someone else, or that another user has as primary group, is not', () => {
  assert.equal(privateGroupVerdict(1001, 1001, users, [['alice', 'x', '1001', 'alice,bob']]), false);
  assert.equal(privateGroupVerdict(1001, 1001, [...users, ['carol', 'x', '1003', '1001', '', '/', '/bin/sh']], [alicesGroup]), false);
  assert.equal(privateGroupVerdict(1002, 1001, users, [['bob', 'x', '1002', '']]), false);
});

test('a second group with the same gid (groupadd -o) counts with its members', () => {
  // `getent group 1001` shows only the first; bob is in the second and may write alike.
  assert.equal(privateGroupVerdict(1001, 1001, users, [alicesGroup, ['dup', 'x', '1001', 'bob']]), false);
  assert.equal(privateGroupVerdict(1001, 1001, users, [alicesGroup, ['dup', 'x', '1001', '']]), true);
});

test('no such group, or no such owner, is not private', () => {
  assert.equal(privateGroupVerdict(1001, 1001, users, []), false);
  assert.equal(privateGroupVerdict(1001, 4242, users, [alicesGroup]), false);
});
