// Refusals of one net block: one INFO line per interval, carrying the count of the quiet ones.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DropLog } from '../../src/server/drop-log';

test('the first refusal of a block in each interval is loud and says how many were quiet since', () => {
  let t = 1000;
  const log = new DropLog(60, 100, () => t);
  assert.deepEqual(log.note('192.0.2.1/32'), { loud: true, since: 0 });
  for (let i = 0; i < 4; i++) assert.deepEqual(log.note('192.0.2.1/32'), { loud: false, since: 0 });
  // Another block has its own interval.
  assert.deepEqual(log.note('198.51.100.7/32'), { loud: true, since: 0 });
  t += 59.9;
  assert.equal(log.note('192.0.2.1/32').loud, false);
  t += 0.1;
  assert.deepEqual(log.note('192.0.2.1/32'), { loud: true, since: 5 });
  assert.deepEqual(log.note('192.0.2.1/32'), { loud: false, since: 0 });
});

test('blocks past the bound push out the oldest, so a flood from many addresses holds a bounded table', () => {
  const t = 0;
  const log = new DropLog(60, 3, () => t);
  for (const b of ['a', 'b', 'c', 'd']) assert.equal(log.note(b).loud, true);
  assert.equal(log.size, 3);
  // 'a' was pushed out: it is loud again at once; 'd' is still remembered.
  assert.equal(log.note('a').loud, true);
  assert.equal(log.note('d').loud, false);
});
