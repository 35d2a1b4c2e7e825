// UsePAM no: sshd's own account checks (locked, expired) on shadow entries.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { isTlsshError } from '../../src/errors';
import { filesAnswerFirst } from '../../src/server/nss-files';
import {
  checkShadowAccount, parseShadowLine, readShadowEntry, shadowLookup, shadowRefusal, type ShadowEntry, type ShadowSources,
} from '../../src/server/shadow-account';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('shadow entries (UsePAM no)', () => {
  it('parses the password and the expiry day of the named user only', () => {
    assert.deepEqual(parseShadowLine('alice:!:20785:0:99999:7:::\n', 'alice'), { password: '!', expireDay: null });
    assert.deepEqual(parseShadowLine('alice:*:20785:0:99999:7::20000:', 'alice'), { password: '*', expireDay: 20000 });
    assert.deepEqual(parseShadowLine('alice:$y$j9T$x:20785:0:99999:7::-1:', 'alice'), { password: '$y$j9T$x', expireDay: null });
    assert.equal(parseShadowLine('alicex:*:1:0:99999:7:::', 'alice'), undefined);
    assert.equal(parseShadowLine('alice:*:1:0:99999:7::', 'alice'), undefined, 'eight fields');
    assert.equal(parseShadowLine('alice:*:1:0:99999:7::soon:', 'alice'), undefined, 'an expiry that is not a day');
  });

  it('refuses a password starting with "!" as locked, as sshd does; "*" and "" are not locked', () => {
    const at = (password: string): ShadowEntry => ({ password, expireDay: null });
    assert.equal(shadowRefusal(at('!'), 20000), 'account is locked');
    assert.equal(shadowRefusal(at('!$y$j9T$hash'), 20000), 'account is locked');
    assert.equal(shadowRefusal(at('*'), 20000), undefined);
    assert.equal(shadowRefusal(at(''), 20000), undefined);
    assert.equal(shadowRefusal(at('$y$j9T$hash!'), 20000), undefined);
  });

  it('refuses an account from the day after its expiry day, as sshd does', () => {
    assert.equal(shadowRefusal({ password: '*', expireDay: 20000 }, 20000), undefined);
    assert.equal(shadowRefusal({ password: '*', expireDay: 20000 }, 20001), 'account has expired');
    assert.equal(shadowRefusal({ password: '*', expireDay: 0 }, 20001), 'account has expired');
  });

  it('refuses with TLSSH_ERR_LOGIN_NOT_ALLOWED, tells the log the remedy, and fails closed on an unreadable entry', async () => {
    const now = 20001 * DAY_MS;
    await checkShadowAccount('alice', async () => ({ password: '*', expireDay: null }), now);
    await checkShadowAccount('alice', async () => undefined, now);
    const refused = async (entry: ShadowEntry | 'unreadable'): Promise<unknown> => {
      try {
        await checkShadowAccount('alice', async () => entry, now);
      } catch (e) {
        return e;
      }
      return assert.fail('not refused');
    };
    const locked = await refused({ password: '!', expireDay: null });
    assert.ok(isTlsshError(locked) && locked.code === 'TLSSH_ERR_LOGIN_NOT_ALLOWED');
    assert.match(String((locked as Error).message), /\(account is locked\)$/);
    assert.match(String((locked as { logDetail?: string }).logDetail), /usermod -p '\*' alice/);
    assert.match(String((await refused({ password: '*', expireDay: 20000 }) as Error).message), /account has expired/);
    assert.match(String((await refused('unreadable') as Error).message), /cannot be read/);
  });
  it("reads getent's answer: status 2 is no entry, any other failure unreadable (refused)", () => {
    assert.equal(shadowLookup({ code: 2 }, '', 'alice'), undefined);
    for (const code of [1, 3, null, 'ENOENT']) assert.equal(shadowLookup({ code }, '', 'alice'), 'unreadable', String(code));
    assert.deepEqual(shadowLookup(null, 'alice:*:20785:0:99999:7:::\n', 'alice'), { password: '*', expireDay: null });
    assert.equal(shadowLookup(null, 'bob:*:20785:0:99999:7:::\n', 'alice'), 'unreadable');
  });
});

// The entry from /etc/shadow directly only when NSS would answer from it (`files` first for
// shadow), through getent otherwise: each test gives the lookup files of its own and a getent
// that records being asked, so it can tell which way the answer came.
describe('where the shadow entry is read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-shadow-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const SHADOW = 'root:*:20000:0:99999:7:::\nalice:!:20785:0:99999:7::20900:\nbob:*:20785:0:99999:7:::\n';
  let n = 0;
  const sources = (nsswitch: string, shadow: string = SHADOW, answer?: string): ShadowSources & { calls(): string[] } => {
    const d = fs.mkdtempSync(path.join(dir, `s${n++}-`));
    const log = path.join(d, 'calls');
    fs.writeFileSync(path.join(d, 'nsswitch.conf'), nsswitch);
    fs.writeFileSync(path.join(d, 'shadow'), shadow);
    const getent = path.join(d, 'getent');
    fs.writeFileSync(getent, `#!/bin/sh\necho "$*" >> ${log}\n${answer === undefined ? 'exit 2' : `echo '${answer}'`}\n`, { mode: 0o755 });
    return {
      nsswitch: path.join(d, 'nsswitch.conf'), shadow: path.join(d, 'shadow'), getent,
      calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []),
    };
  };
  const NET = 'alice:*:20785:0:99999:7:::';

  it('files first: the entry comes from the shadow file, and getent is not run', async () => {
    const s = sources('passwd: sss files\nshadow:         files systemd\n');
    assert.deepEqual(await readShadowEntry('alice', s), { password: '!', expireDay: 20900 });
    assert.deepEqual(s.calls(), []);
  });

  it('files first but the name is not in the file: getent is asked (the other sources may know it)', async () => {
    const s = sources('shadow: files sss\n', SHADOW, 'carol:!:20785:0:99999:7:::');
    assert.deepEqual(await readShadowEntry('carol', s), { password: '!', expireDay: null });
    assert.deepEqual(s.calls(), ['shadow -- carol']);
    const none = sources('shadow: files\n');
    assert.equal(await readShadowEntry('carol', none), undefined, "getent's status 2: no entry");
    assert.deepEqual(none.calls(), ['shadow -- carol']);
  });

  it('another source first, an action after files, or no shadow line: getent answers, even for a name the file has', async () => {
    for (const conf of ['shadow: sss files\n', 'shadow: files [SUCCESS=continue] ldap\n', 'passwd: files\ngroup: files\n', 'shadow: files\nshadow: ldap\n']) {
      const s = sources(conf, SHADOW, NET);
      assert.deepEqual(await readShadowEntry('alice', s), { password: '*', expireDay: null }, conf);
      assert.deepEqual(s.calls(), ['shadow -- alice'], conf);
    }
  });

  it('shadow lines glibc could read differently, or not at all: getent answers', async () => {
    for (const shadow of [
      ` alice:*:0:0:99999:7:::\n${SHADOW}`, // glibc strips leading blanks: this would be the first alice
      `alice:*\0:0:0:99999:7:::\n${SHADOW}`, // a NUL ends glibc's field
      `+alice::::::::\n${SHADOW}`, // NIS compat
      'alice:*:20785:0:99999:7::\n', // eight fields: glibc skips the line and reads on
      'alice:*:20785:0:99999:7::soon:\n', // an expiry that is not a number
    ]) {
      const s = sources('shadow: files\n', shadow, 'alice:!:20785:0:99999:7:::');
      assert.deepEqual(await readShadowEntry('alice', s), { password: '!', expireDay: null }, JSON.stringify(shadow.slice(0, 30)));
      assert.deepEqual(s.calls(), ['shadow -- alice']);
    }
  });

  it("nsswitch.conf: each database has its own line; one database's `files` says nothing of another's", () => {
    assert.equal(filesAnswerFirst('passwd: files\nshadow: sss files\n', 'shadow'), false);
    assert.equal(filesAnswerFirst('passwd: files\nshadow: sss files\n', 'passwd'), true);
    assert.equal(filesAnswerFirst('passwd: sss\nshadow:\tfiles\n', 'shadow'), true);
    assert.equal(filesAnswerFirst('gshadow: files\n', 'shadow'), false);
  });
});
