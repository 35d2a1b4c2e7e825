// /var/log/lastlog records: glibc's x86_64 layout, read and written at uid × 292, and sshd's line.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { LASTLOG_SIZE, decodeLastlog, encodeLastlog, lastLoginLine, readLastLogin, writeLastLogin } from '../../src/server/lastlog';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-lastlog-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a record holds the time in seconds, the line and the host, at glibc\'s offsets', () => {
  const buf = encodeLastlog({ time: 1_764_374_104_999, line: 'pts/3', host: '192.0.2.7' });
  assert.equal(buf.length, LASTLOG_SIZE);
  assert.equal(buf.readUInt32LE(0), 1_764_374_104);
  assert.equal(buf.subarray(4, 9).toString(), 'pts/3');
  assert.equal(buf.subarray(36, 45).toString(), '192.0.2.7');
  assert.deepEqual(decodeLastlog(buf), { time: 1_764_374_104_000, line: 'pts/3', host: '192.0.2.7' });
  // A hole in the sparse file: never logged in.
  assert.equal(decodeLastlog(Buffer.alloc(LASTLOG_SIZE)), undefined);
  // Over-long fields are cut to their size, as glibc's strncpy.
  const long = decodeLastlog(encodeLastlog({ time: 1000, line: 'x'.repeat(40), host: 'h'.repeat(300) }));
  assert.equal(long?.line.length, 32);
  assert.equal(long?.host.length, 256);
});

test('written at uid × 292 into an existing file only, and read back; lastlog(8) reads the same', async () => {
  const file = path.join(tmp, 'lastlog');
  await assert.rejects(writeLastLogin(5, { time: 1000, line: 'pts/1', host: 'h' }, file), { code: 'ENOENT' });
  fs.writeFileSync(file, '');
  await writeLastLogin(1000, { time: Date.UTC(2026, 10, 28, 23, 55, 4), line: 'pts/9', host: '198.51.100.1' }, file);
  assert.equal(fs.statSync(file).size, 1001 * LASTLOG_SIZE);
  assert.deepEqual(readLastLogin(1000, file), { time: Date.UTC(2026, 10, 28, 23, 55, 4), line: 'pts/9', host: '198.51.100.1' });
  assert.equal(readLastLogin(999, file), undefined);
  assert.equal(readLastLogin(5000, file), undefined);
  // Never through a symlink: root writes there.
  const link = path.join(tmp, 'link');
  fs.symlinkSync(file, link);
  await assert.rejects(writeLastLogin(1, { time: 1000, line: 'pts/1', host: 'h' }, link), { code: 'ELOOP' });
  // Nor into anything but a regular file (a device, a fifo put in its place).
  await assert.rejects(writeLastLogin(1, { time: 1000, line: 'pts/1', host: 'h' }, '/dev/null'), /is not a regular file/);
  // lastlog(8) reading tlsshd's records is checked in integration/server-pam, on the real file.
});

test('sshd\'s line, in local time, without "from" when no host was recorded', () => {
  const time = new Date(2026, 10, 8, 7, 5, 3).getTime();
  assert.equal(lastLoginLine({ time, line: 'pts/0', host: '192.0.2.7' }), 'Last login: Sun Nov  8 07:05:03 2026 from 192.0.2.7');
  assert.equal(lastLoginLine({ time, line: 'pts/0', host: '' }), 'Last login: Sun Nov  8 07:05:03 2026');
});
