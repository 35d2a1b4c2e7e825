// UsePAM no: sshd's own account checks (locked, expired) on shadow entries.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isTlsshError } from '../../src/errors';
import { checkShadowAccount, parseShadowLine, shadowLookup, shadowRefusal, type ShadowEntry } from '../../src/server/shadow-account';

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
