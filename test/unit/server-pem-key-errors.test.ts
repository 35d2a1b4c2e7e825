// A wrong PrivkeyPassword must always be reported as such. OpenSSL usually says "bad decrypt",
// but about one wrong password in 256 decrypts to bytes whose padding looks right, and then its
// DER decoder fails instead ("unsupported"): that once made a CI run report "not a PEM private
// key" for a plain wrong password. The test looks for such a password instead of hoping for one.

import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { test } from 'node:test';
import { pemKeyOpenFailure } from '../../src/server/startup-checks';

const encrypted = Buffer.from(crypto.generateKeyPairSync('ec', {
  namedCurve: 'prime256v1',
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'the-right-one' },
}).privateKey);

function openError(key: Buffer, passphrase: string): unknown {
  try {
    crypto.createPrivateKey({ key, passphrase });
  } catch (e) {
    return e;
  }
  throw new Error(`the key opened with ${passphrase}`);
}

test('a wrong password whose decryption fails in the decoder, not the padding, is still a wrong password', () => {
  let found: unknown;
  // Each try has about 1/256 chance; 20000 tries miss with a probability near e^-78.
  for (let i = 0; i < 20_000 && found === undefined; i++) {
    const e = openError(encrypted, `wrong-${i}`);
    if (!/decrypt|bad|password/i.test(String((e as Error).message))) found = e;
  }
  assert.ok(found !== undefined, 'no wrong password reached the decoder');
  assert.equal(pemKeyOpenFailure(encrypted, true, found), 'cannot decrypt the key with PrivkeyPassword');
});

test('the usual wrong password, a missing password and a file that is no key each get their own words', () => {
  assert.equal(pemKeyOpenFailure(encrypted, true, openError(encrypted, 'wrong')), 'cannot decrypt the key with PrivkeyPassword');
  const missing = (() => {
    try {
      crypto.createPrivateKey({ key: encrypted });
    } catch (e) {
      return e;
    }
    throw new Error('the key opened without a password');
  })();
  assert.match(pemKeyOpenFailure(encrypted, false, missing), /encrypted and tlsshd never prompts/);
  const notAKey = Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  assert.match(pemKeyOpenFailure(notAKey, true, openError(notAKey, 'x')), /^not a PEM private key: /);
});
