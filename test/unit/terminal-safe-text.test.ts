// One rule for text from elsewhere on terminals and in logs (src/terminal-safe-text.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sanitize } from '../../src/server/log';
import { printable } from '../../src/ctl/format';
import { terminalSafe, terminalSafeJson } from '../../src/terminal-safe-text';

const HOSTILE = 'a\x1b]0;t\x07b\u009b31mc\u202ed\u2066e\u200bf\u00adg\ufeffh\u2028i\x7fj';

test('C0, C1, DEL, bidirectional and invisible characters become ?; other text stays', () => {
  assert.equal(terminalSafe(HOSTILE), 'a?]0;t?b?31mc?d?e?f?g?h?i?j');
  assert.equal(terminalSafe('plain ünïcode, 日本語, emoji 🙂'), 'plain ünïcode, 日本語, emoji 🙂');
});

test('the daemon\'s log and tlsshctl\'s tables use that rule', () => {
  assert.equal(sanitize(HOSTILE), terminalSafe(HOSTILE));
  assert.equal(printable(HOSTILE), terminalSafe(HOSTILE));
});

test('JSON for a terminal escapes them and still parses to the same value', () => {
  const value = { s: HOSTILE, n: 1, list: ['\u0085'] };
  const json = terminalSafeJson(value);
  assert.doesNotMatch(json, /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
  assert.deepEqual(JSON.parse(json), value);
});
