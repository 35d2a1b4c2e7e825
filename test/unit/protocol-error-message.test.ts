import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, MessageDecoder } from '../../src/protocol/codec';
import { toErrorMessage } from '../../src/protocol/error-message';
import { LIMITS } from '../../src/protocol/messages';

function roundTrip(code: string, text: string): { code: string; message: string } {
  const [m] = new MessageDecoder().push(encodeMessage(toErrorMessage(code, text)));
  assert.ok(m !== undefined && m.type === 'error');
  return { code: m.code, message: m.message };
}

test('ordinary text passes unchanged', () => {
  assert.deepEqual(roundTrip('TLSSH_ERR_USER_MISMATCH', 'certificate maps to alice, not bob'), {
    code: 'TLSSH_ERR_USER_MISMATCH',
    message: 'certificate maps to alice, not bob',
  });
  assert.equal(roundTrip('TLSSH_ERR_X', 'ünïcödé ✓ 🎉').message, 'ünïcödé ✓ 🎉');
});

test('control characters become spaces, so the text always encodes', () => {
  assert.equal(roundTrip('TLSSH_ERR_X', 'line one\nline two\r\n\tand \u001b[31mred\u009b').message, 'line one line two and  [31mred');
  assert.equal(roundTrip('TLSSH_ERR_X', 'nul\u0000byte').message, 'nul byte');
  assert.equal(roundTrip('TLSSH_ERR_X', 'lone \ud800 surrogate').message, 'lone \ufffd surrogate');
});

test('long text is cut at a character boundary within the limit', () => {
  for (const unit of ['a', 'é', '✓', '🎉']) {
    const m = toErrorMessage('TLSSH_ERR_X', unit.repeat(LIMITS.maxErrorMessage + 1));
    const bytes = Buffer.byteLength(m.message, 'utf8');
    assert.ok(bytes <= LIMITS.maxErrorMessage && bytes > LIMITS.maxErrorMessage - 8, `${unit}: ${bytes}`);
    assert.ok(m.message.endsWith('…'));
    assert.equal(roundTrip('TLSSH_ERR_X', unit.repeat(LIMITS.maxErrorMessage + 1)).message, m.message);
  }
  const exact = 'a'.repeat(LIMITS.maxErrorMessage);
  assert.equal(toErrorMessage('TLSSH_ERR_X', exact).message, exact);
});

test('a code outside the TLSSH_ERR_ namespace becomes TLSSH_ERR_INTERNAL', () => {
  for (const bad of ['ECONNRESET', '', 'tlssh_err_x', 'TLSSH_ERR_', 'TLSSH_ERR_' + 'A'.repeat(LIMITS.maxErrorCode)]) {
    assert.equal(roundTrip(bad, 'x').code, 'TLSSH_ERR_INTERNAL', bad);
  }
});
