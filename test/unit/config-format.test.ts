// tlsshd -T writes values back so that the parser reads exactly them: bare where that is safe,
// double-quoted (JSON escapes) where a bare value would be read differently.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MASK, formatServerConfig, quoteValue } from '../../src/config/format-config';
import { decodeValue } from '../../src/config/line-lexer';
import { loadServerConfig } from '../../src/config';

test('every value reads back as itself', () => {
  for (const s of ['', 'plain', '/etc/tlssh/x.crt', 'a b', ' lead', 'trail ', 'x#y', 'x;y', '#c', ';c', '"q"', "'q'", 'back\\slash', '=eq', 'tab\there', 'LC_*', 'swtpm:host=127.0.0.1,port=2321']) {
    assert.equal(decodeValue(quoteValue(s)), s, JSON.stringify(s));
  }
  assert.equal(quoteValue('plain'), 'plain');
  assert.equal(quoteValue(''), '""');
});

test('defaults print one line per keyword, no secret shown', () => {
  const text = formatServerConfig(loadServerConfig({ file: '/dev/null' }));
  assert.match(text, /^MaxStartups 10:30:100$/m);
  assert.match(text, /^PreforkWorkers 1:4$/m);
  assert.match(text, /^PreforkIdleTimeout 60$/m);
  assert.match(text, /^PermitRootLogin yes$/m);
  assert.match(text, /^AcceptEnv LANG\nAcceptEnv LC_\*$/m);
  assert.match(text, /^# PrivkeyPassword is not set$/m);
  assert.doesNotMatch(text, new RegExp(MASK.replace(/\*/g, '\\*')));
});
