// Account lookup: from /etc/passwd directly only when NSS would answer from it (`files` first for
// passwd, nothing that changes what a match does), through getent otherwise. These tests give the
// lookup files of their own and a getent that records being asked, so each can tell which way an
// answer came.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { filesAnswerFirst } from '../../src/server/nss-files';
import { lookupUser, type LookupSources } from '../../src/server/passwd-lookup';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-passwd-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'alice:x:1001:1001:Alice A:/home/alice:/bin/bash',
  'bob:x:1002:1002::/home/bob:/bin/sh',
  '',
].join('\n');

let n = 0;
/** Files for one lookup, and a getent that answers `answer` (or "not found") and logs its calls. */
function sources(nsswitch: string, passwd: string = PASSWD, answer?: string): LookupSources & { calls(): string[] } {
  const d = fs.mkdtempSync(path.join(dir, `s${n++}-`));
  const log = path.join(d, 'calls');
  fs.writeFileSync(path.join(d, 'nsswitch.conf'), nsswitch);
  fs.writeFileSync(path.join(d, 'passwd'), passwd);
  const getent = path.join(d, 'getent');
  fs.writeFileSync(getent, [
    '#!/bin/sh',
    `echo "$*" >> ${log}`,
    answer === undefined ? 'exit 2' : `echo '${answer}'`,
    '',
  ].join('\n'), { mode: 0o755 });
  return {
    nsswitch: path.join(d, 'nsswitch.conf'),
    passwd: path.join(d, 'passwd'),
    getent,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []),
  };
}

test('files first: the entry comes from the passwd file, and getent is not run', async () => {
  const s = sources('passwd:         files systemd\ngroup: files\n');
  assert.deepEqual(await lookupUser('alice', s), { name: 'alice', uid: 1001, gid: 1001, gecos: 'Alice A', home: '/home/alice', shell: '/bin/bash' });
  assert.deepEqual(s.calls(), []);
});

test('files first but the name is not in the file: getent is asked (the other sources may know it)', async () => {
  const s = sources('passwd: files sss\n', PASSWD, 'carol:x:5000:5000::/home/carol:/bin/zsh');
  assert.equal((await lookupUser('carol', s))?.uid, 5000);
  assert.deepEqual(s.calls(), ['passwd carol']);
});

test('another source first: getent answers, even for a name the file has', async () => {
  const s = sources('passwd: sss files\n', PASSWD, 'alice:x:7001:7001::/net/alice:/bin/zsh');
  assert.equal((await lookupUser('alice', s))?.uid, 7001);
  assert.deepEqual(s.calls(), ['passwd alice']);
});

test('an action after files, compat mode, or several passwd lines: getent answers', async () => {
  const answer = 'alice:x:7001:7001::/net/alice:/bin/zsh';
  for (const conf of ['passwd: files [SUCCESS=continue] ldap\n', 'passwd: compat\n', 'passwd: files\npasswd: ldap files\n', 'group: files\n']) {
    const s = sources(conf, PASSWD, answer);
    assert.equal((await lookupUser('alice', s))?.uid, 7001, conf);
    assert.deepEqual(s.calls(), ['passwd alice'], conf);
  }
});

test('NIS compat lines in the passwd file: getent answers', async () => {
  const s = sources('passwd: files\n', `+@admins\n${PASSWD}`, 'alice:x:7001:7001::/net/alice:/bin/zsh');
  assert.equal((await lookupUser('alice', s))?.uid, 7001);
  assert.deepEqual(s.calls(), ['passwd alice']);
});

test('nsswitch.conf: only one plain `passwd: files` line counts; whatever glibc could read otherwise does not', () => {
  assert.equal(filesAnswerFirst('# passwd: sss\npasswd:files\tsystemd\n'), true);
  assert.equal(filesAnswerFirst('  passwd:  files  systemd\n'), true);
  assert.equal(filesAnswerFirst('passwd: filesx\n'), false);
  assert.equal(filesAnswerFirst(''), false);
  // glibc: # after the start is part of a service name; the last of several lines counts, and
  // the colon is optional; a CR is part of the line.
  assert.equal(filesAnswerFirst('passwd: files # local first\n'), false);
  assert.equal(filesAnswerFirst('passwd: files\npasswd   sss\n'), false);
  assert.equal(filesAnswerFirst('passwd: files\r\n'), false);
  assert.equal(filesAnswerFirst('passwd : files\n'), false);
});

test('passwd lines glibc parses differently from a split on colons go to getent', async () => {
  const answer = 'alice:x:7001:7001::/net/alice:/bin/zsh';
  for (const passwd of [
    ` alice:x:0:0::/root:/bin/sh\n${PASSWD}`, // glibc strips leading blanks: this would be the first alice
    'alice:x\0:0:0::/:/bin/sh\n' + PASSWD, // a NUL ends glibc's field
    'alice:x:4294967296:1001::/home/alice:/bin/sh\n', // ids beyond 32 bits: glibc skips the line
  ]) {
    const s = sources('passwd: files\n', passwd, answer);
    assert.equal((await lookupUser('alice', s))?.uid, 7001, JSON.stringify(passwd.slice(0, 40)));
    assert.deepEqual(s.calls(), ['passwd alice']);
  }
});

test('a name the files source and getent both lack is no account', async () => {
  const s = sources('passwd: files\n');
  assert.equal(await lookupUser('nobody-here', s), undefined);
  assert.deepEqual(s.calls(), ['passwd nobody-here']);
});

test('names that are not portable user names never reach either source', async () => {
  const s = sources('passwd: files\n', `-x:x:1:1::/:/bin/sh\n${PASSWD}`);
  assert.equal(await lookupUser('-x', s), undefined);
  assert.equal(await lookupUser('1001', s), undefined);
  assert.deepEqual(s.calls(), []);
});
