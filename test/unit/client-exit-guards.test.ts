// The signals bin/tlssh found ignored when tlssh started (TLSSH_SIGIGN): read from /proc's mask,
// and taken out of the environment so that nothing tlssh starts inherits it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ignoredAtStart } from '../../src/client/exit-guards';

test('the mask names the ignored signals among those tlssh handles, and leaves the environment', () => {
  // nohup: SIGHUP (bit 0). A shell's background job: SIGINT (bit 1) and SIGQUIT (bit 2).
  // SIGTERM is bit 14; SIGPIPE (bit 12) and SIGUSR2 (bit 11) are not tlssh's to keep.
  const env: NodeJS.ProcessEnv = { TLSSH_SIGIGN: '0000000000005807', OTHER: 'x' };
  assert.deepEqual([...ignoredAtStart(env)].sort(), ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM']);
  assert.deepEqual(env, { OTHER: 'x' });
  assert.deepEqual([...ignoredAtStart({ TLSSH_SIGIGN: '0000000000000001' })], ['SIGHUP']);
});

test('no mask, an empty one or one that is not hex ignores nothing', () => {
  for (const mask of [undefined, '', '0000000000000000', 'zz01', '1 2', '0x1', '00000000000000001']) {
    const env: NodeJS.ProcessEnv = mask === undefined ? {} : { TLSSH_SIGIGN: mask };
    assert.equal(ignoredAtStart(env).size, 0, String(mask));
    assert.equal('TLSSH_SIGIGN' in env, false);
  }
});
