// Config and CLI errors must carry a stable code and name the place first (file:line: Keyword),
// as administrators read them; tests check both through this one helper.

import { strict as assert } from 'node:assert';
import { isTlsshError, type ErrorCode, type TlsshError } from '../../src/errors';

/** Runs `fn`, which must throw a TlsshError with `code` whose message starts with `place`. */
export function fails(fn: () => unknown, code: ErrorCode, place: string): TlsshError {
  try {
    fn();
  } catch (e) {
    assert.ok(isTlsshError(e), `not a TlsshError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.startsWith(place), `${JSON.stringify(e.message)} should start with ${JSON.stringify(place)}`);
    return e;
  }
  assert.fail(`expected ${code}`);
}
