// The directory of a ControlPath socket: the user's own, mode 0700, or tlssh neither starts a
// master there nor uses one (control-socket.ts checkControlDir).

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkControlDir } from '../../src/client/control-socket';

test('only a directory of ours that nobody else may enter', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-cm-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 's');
  const uid = process.getuid?.() ?? 0;
  fs.chmodSync(dir, 0o700);
  checkControlDir(socket, uid);
  for (const mode of [0o750, 0o710, 0o705, 0o701, 0o755]) {
    fs.chmodSync(dir, mode);
    assert.throws(() => checkControlDir(socket, uid), /is open to other users/, mode.toString(8));
  }
  fs.chmodSync(dir, 0o700);
  assert.throws(() => checkControlDir(socket, uid + 1), /belongs to uid \d+, not to you/);
  assert.throws(() => checkControlDir(path.join(dir, 'missing', 's'), uid), /: no such directory$/);
});
