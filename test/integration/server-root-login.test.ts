// A root daemon serving a real, non-root user: the session has exactly that user's uid, gid
// and supplementary groups, and PTY sessions appear in utmp (who) and wtmp (last).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { UTMP_SIZE, UT_TYPE, decodeUtmp } from '../../src/server/utmp-record';
import { groupNamesOf } from '../../src/server/login-access';
import {
  connectClient, createTestUser, isRoot, makeServerFixture, runCommand, sessionRequest, startTlsshd,
  type ClientIdentity, type ServerFixture, type TestUser, type TlsshdHandle,
} from '../helpers/server-harness';
import { pollUntil } from '../helpers/poll';

const skip = isRoot ? false : 'needs root: creates a system user and writes utmp/wtmp';
if (!isRoot) process.stderr.write('# server-root-login: skipped, not running as root\n');

let fx: ServerFixture;
let user: TestUser;
let daemon: TlsshdHandle;
let id: ClientIdentity;

before(async () => {
  if (!isRoot) return;
  fx = makeServerFixture('tlsshd-root-login');
  user = createTestUser();
  daemon = await startTlsshd({ dir: fx.dir, config: fx.config });
  id = fx.client(user.name);
});
after(async () => {
  await daemon?.stop();
  user?.remove();
});

function wtmpRecords(): ReturnType<typeof decodeUtmp>[] {
  const data = fs.readFileSync('/var/log/wtmp');
  const out = [];
  for (let off = 0; off + UTMP_SIZE <= data.length; off += UTMP_SIZE) out.push(decodeUtmp(data.subarray(off, off + UTMP_SIZE)));
  return out;
}

const until = <T>(what: string, fn: () => T | undefined): Promise<T> => pollUntil(what, fn, { limitMs: 15_000 });

test('id in the session equals id <user>, supplementary groups included', { skip }, async () => {
  const expected = execFileSync('id', [user.name], { encoding: 'utf8' }).trim();
  const r = await runCommand(daemon.port, id, 'id');
  assert.equal(r.stdout.toString().trim(), expected);
  for (const g of user.groups) assert.match(expected, new RegExp(`\\(${g}\\)`));
  assert.doesNotMatch(r.stdout.toString(), /\(root\)/);
});

test('the same holds on a pty', { skip }, async () => {
  const expected = execFileSync('id', [user.name], { encoding: 'utf8' }).trim();
  const r = await runCommand(daemon.port, id, 'id', { pty: true, term: 'dumb' });
  assert.equal(r.stdout.toString().trim(), expected);
});

test('a pty session is in utmp while it lasts, and in wtmp with its logout afterwards', { skip }, async () => {
  const s = connectClient(daemon.port, id, sessionRequest({ command: 'tty; exec cat', pty: true, term: 'dumb' }));
  const out = await s.waitForStdout((o) => /\/dev\/pts\/\d+/.test(o));
  const line = /\/dev\/(pts\/\d+)/.exec(out)?.[1] ?? '';
  const who = await until('who to list the session', () => {
    const w = execFileSync('who', { encoding: 'utf8' });
    return w.split('\n').find((l) => l.startsWith(user.name.slice(0, 8)) || l.startsWith(user.name)) ? w : undefined;
  });
  assert.match(who, new RegExp(`${line.replace('/', '\\/')}.*\\(127\\.0\\.0\\.1\\)`));
  s.write('\x04'); // ^D: cat sees end of input on the terminal
  const r = await s.result;
  assert.equal(r.exit?.code, 0);
  const logout = await until('the wtmp logout record', () => {
    const recs = wtmpRecords();
    let login = -1;
    recs.forEach((x, i) => { if (x.type === UT_TYPE.user && x.user === user.name && x.line === line) login = i; });
    if (login < 0) return undefined;
    return recs.slice(login + 1).find((x) => x.type === UT_TYPE.dead && x.line === line);
  });
  assert.equal(logout.user, '');
  // Only this user's records: a long-lived machine's whole wtmp outgrows execFileSync's buffer.
  const last = execFileSync('last', ['-w', '-f', '/var/log/wtmp', user.name], { encoding: 'utf8' });
  assert.match(last, new RegExp(`^${user.name}\\s+${line.replace('/', '\\/')}\\s+127\\.0\\.0\\.1`, 'm'));
  const stillInUtmp = execFileSync('who', { encoding: 'utf8' }).split('\n').some((l) => l.startsWith(user.name));
  assert.equal(stillInUtmp, false, 'the utmp entry is gone after logout');
});

test('a session without a pty leaves no login record, like sshd', { skip }, async () => {
  const before = wtmpRecords().length;
  const r = await runCommand(daemon.port, id, 'true');
  assert.equal(r.exit?.code, 0);
  assert.equal(wtmpRecords().filter((x, i) => i >= before && x.user === user.name).length, 0);
});

test('AllowGroups and DenyGroups see the user\'s supplementary groups, from NSS', { skip }, async () => {
  const names = await groupNamesOf({ name: user.name, uid: user.uid, gid: user.gid, gecos: '', home: user.home, shell: '/bin/bash' });
  // useradd gave the user a primary group of its own and the two test groups besides.
  assert.equal(names[0], execFileSync('id', ['-gn', user.name], { encoding: 'utf8' }).trim());
  for (const g of user.groups) assert.ok(names.includes(g), `${g} in ${names.join(' ')}`);
});
