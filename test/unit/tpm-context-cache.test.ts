// The saved TPM contexts: read only when the file is the user's own, a regular file (no symlink),
// not writable by others, and of a context's size; written 0600 in a 0700 directory.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { contextCacheFile, readContext, writeContext } from '../../src/transport/tpm-context-cache';

describe('TPM context cache', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-ctxcache-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cacheDir = path.join(dir, 'tpm-contexts');

  it('names the file after the TCTI and the key file', () => {
    const a = contextCacheFile('swtpm:port=1', Buffer.from('key'), cacheDir);
    assert.notEqual(a, contextCacheFile('swtpm:port=2', Buffer.from('key'), cacheDir));
    assert.notEqual(a, contextCacheFile('swtpm:port=1', Buffer.from('other key'), cacheDir));
    assert.equal(a, contextCacheFile('swtpm:port=1', Buffer.from('key'), cacheDir));
  });

  it('writes 0600 in a 0700 directory and reads it back', () => {
    const file = contextCacheFile('t', Buffer.from('k'), cacheDir);
    writeContext(file, Buffer.from('blob'));
    assert.equal(fs.statSync(cacheDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readContext(file), Buffer.from('blob'));
  });

  it('ignores a file others can write, a symlink, an empty file and a missing one', () => {
    const file = contextCacheFile('t', Buffer.from('writable'), cacheDir);
    writeContext(file, Buffer.from('blob'));
    for (const mode of [0o622, 0o620, 0o602]) {
      fs.chmodSync(file, mode);
      assert.equal(readContext(file), undefined, mode.toString(8));
    }
    fs.chmodSync(file, 0o644);
    assert.deepEqual(readContext(file), Buffer.from('blob'), 'readable by others is fine: a context is no secret');
    const link = contextCacheFile('t', Buffer.from('link'), cacheDir);
    fs.symlinkSync(contextCacheFile('t', Buffer.from('k'), cacheDir), link);
    assert.equal(readContext(link), undefined);
    const empty = contextCacheFile('t', Buffer.from('empty'), cacheDir);
    fs.writeFileSync(empty, '', { mode: 0o600 });
    assert.equal(readContext(empty), undefined);
    assert.equal(readContext(path.join(cacheDir, 'missing.ctx')), undefined);
  });
});
