import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { UTMP_SIZE, UT_TYPE, decodeUtmp, encodeUtmp, idForLine } from '../../src/server/utmp-record';

const rec = {
  type: UT_TYPE.user, pid: process.pid, line: 'pts/77', id: idForLine('pts/77'), user: 'alice',
  host: '192.0.2.7', session: 0, time: 1_700_000_000_123, addr: '192.0.2.7',
};

test('a record is 384 bytes and decodes to what was encoded', () => {
  const buf = encodeUtmp(rec);
  assert.equal(buf.length, UTMP_SIZE);
  assert.deepEqual(decodeUtmp(buf), { ...rec, addr: '' });
  // ut_addr_v6 holds the IPv4 address in network order at offset 348.
  assert.deepEqual([...buf.subarray(348, 352)], [192, 0, 2, 7]);
});

test('ut_id is the last four characters of the line, as sshd does', () => {
  assert.equal(idForLine('pts/3'), 'ts/3');
  assert.equal(idForLine('pts/123'), '/123');
  assert.equal(idForLine('tty1'), 'tty1');
});

test('over-long fields are cut to their size, not spilled into the next field', () => {
  const buf = encodeUtmp({ ...rec, user: 'u'.repeat(40) });
  const back = decodeUtmp(buf);
  assert.equal(back.user, 'u'.repeat(32));
  assert.equal(back.host, rec.host);
});

test('who(1) reads the records we write (the layout matches glibc)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-utmp-'));
  const file = path.join(dir, 'utmp');
  fs.writeFileSync(file, encodeUtmp({ ...rec, time: Date.now() }));
  const out = execFileSync('who', [file], { encoding: 'utf8' });
  assert.match(out, /^alice\s+pts\/77\s+.*\(192\.0\.2\.7\)/m);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('last(1) reads a login and its logout from our wtmp', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-wtmp-'));
  const file = path.join(dir, 'wtmp');
  // A logout in the last few seconds is shown as "still running" by last(1), even for records
  // glibc's own updwtmp() wrote; keep the times a little in the past.
  const now = Date.now() - 10_000;
  fs.writeFileSync(file, Buffer.concat([
    encodeUtmp({ ...rec, time: now - 60_000 }),
    encodeUtmp({ ...rec, type: UT_TYPE.dead, user: '', host: '', time: now }),
  ]));
  const out = execFileSync('last', ['-F', '-f', file], { encoding: 'utf8' });
  assert.match(out, /^alice\s+pts\/77\s+192\.0\.2\.7 .* - .*\(00:01\)/m);
  fs.rmSync(dir, { recursive: true, force: true });
});
