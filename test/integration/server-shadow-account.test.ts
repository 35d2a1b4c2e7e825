// UsePAM no: a locked or expired account is refused, as sshd refuses it when PAM is off
// (src/server/shadow-account.ts). A real root daemon, a real user, its real shadow entry.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { createTestUser, isRoot, makeServerFixture, runCommand, startTlsshd, type ServerFixture, type TestUser, type TlsshdHandle } from '../helpers/server-harness';

const skip = isRoot ? false : 'needs root: a user of its own and its shadow entry';

let user: TestUser;
let fx: ServerFixture;
let daemon: TlsshdHandle;

before(async () => {
  if (!isRoot) return;
  user = createTestUser('tlssh-shadow');
  fx = makeServerFixture('tlsshd-shadow');
  daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, UsePAM: 'no' } });
});

after(async () => {
  if (!isRoot) return;
  await daemon?.stop();
  user?.remove();
  if (fx) fs.rmSync(fx.dir, { recursive: true, force: true });
});

const whoami = (): ReturnType<typeof runCommand> => runCommand(daemon.port, fx.client(user.name), 'id -un');

test('a locked account ("!", as useradd and passwd -l leave it) is refused, and the log says how to allow it', { skip }, async () => {
  assert.match(execFileSync('getent', ['shadow', user.name], { encoding: 'utf8' }), new RegExp(`^${user.name}:!`));
  const r = await whoami();
  assert.equal(r.error?.code, 'TLSSH_ERR_LOGIN_NOT_ALLOWED', JSON.stringify(r.error));
  assert.match(r.error?.message ?? '', /account is locked/);
  assert.equal(r.started, undefined);
  await daemon.waitForLog(new RegExp(`usermod -p '\\*' ${user.name}`));
});

test('"*" (no password, not locked) logs in with the certificate', { skip }, async () => {
  execFileSync('usermod', ['-p', '*', user.name]);
  const r = await whoami();
  assert.equal(r.exit?.code, 0, JSON.stringify(r.error));
  assert.equal(r.stdout.toString(), `${user.name}\n`);
});

test('an account past its expiry date is refused', { skip }, async () => {
  execFileSync('chage', ['-E', '1', user.name]);
  try {
    const r = await whoami();
    assert.equal(r.error?.code, 'TLSSH_ERR_LOGIN_NOT_ALLOWED', JSON.stringify(r.error));
    assert.match(r.error?.message ?? '', /account has expired/);
  } finally {
    execFileSync('chage', ['-E', '-1', user.name]);
  }
  assert.equal((await whoami()).exit?.code, 0, 'no expiry: logs in again');
});
