// What the listener sends a worker: its own config type, built by picking fields, and never a
// password, even when the server's config has both.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadServerConfig } from '../../src/config';
import { isConnectionMessage } from '../../src/server/ipc-messages';
import { SECRET_FIELDS, connectionMessage, workerConfig } from '../../src/server/worker-config';

const KEY_PW = 'hardening-key-password-7d1f';
const SRK_PW = 'hardening-srk-password-2c9a';

function configWithPasswords(): ReturnType<typeof loadServerConfig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-worker-config-'));
  const file = path.join(dir, 'tlsshd.conf');
  fs.writeFileSync(file, `PrivkeyEngine tpm\nKeyFile /k.key\nPrivkeyPassword ${KEY_PW}\nTpmSrkPassword ${SRK_PW}\nAcceptEnv LANG FOO\n`, { mode: 0o600 });
  try {
    return loadServerConfig({ file });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('the connection message a worker receives carries no password, even when the server config has them', () => {
  const cfg = configWithPasswords();
  assert.equal(cfg.PrivkeyPassword, KEY_PW, 'the server config does hold the passwords');
  assert.equal(cfg.TpmSrkPassword, SRK_PW);
  const msg = connectionMessage({ id: 7, config: cfg, logSink: 'stderr', agentSocket: '/run/tlsshd/tpm-agent.sock' });
  // What crosses the IPC channel (serialization 'json'), and what the worker parses back.
  const wire = JSON.stringify(msg);
  assert.ok(!wire.includes(KEY_PW), 'PrivkeyPassword reached the worker');
  assert.ok(!wire.includes(SRK_PW), 'TpmSrkPassword reached the worker');
  const received: unknown = JSON.parse(wire);
  assert.ok(isConnectionMessage(received));
  for (const f of SECRET_FIELDS) assert.equal(f in received.config, false, `${f} is in the worker's config`);
  // What the worker does need is there.
  assert.equal(received.config.KeyFile, '/k.key');
  assert.equal(received.config.PrivkeyEngine, 'tpm');
  assert.deepEqual(received.config.AcceptEnv, ['LANG', 'FOO']);
  assert.equal(received.agentSocket, '/run/tlsshd/tpm-agent.sock');
});

test('the worker config holds only the fields it names, not whatever ServerConfig grows', () => {
  const cfg = { ...configWithPasswords(), SomeFutureSecret: 'x' };
  const wc = workerConfig(cfg);
  assert.equal('SomeFutureSecret' in wc, false);
  assert.equal('origin' in wc, false, 'where each value came from stays in the listener');
  assert.equal('RuntimeDir' in wc, false);
});
