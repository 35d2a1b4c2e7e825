import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropProbability, shouldDrop } from '../../src/server/max-startups';

const m = { start: 10, rate: 30, full: 100 };

test('no drops below start, rate% at start, linear to 100% at full', () => {
  assert.equal(dropProbability(m, 9), 0);
  assert.equal(dropProbability(m, 10), 0.3);
  assert.equal(dropProbability(m, 55), 0.65);
  assert.equal(dropProbability(m, 100), 1);
  assert.equal(dropProbability(m, 500), 1);
});

test('shouldDrop follows the probability', () => {
  assert.equal(shouldDrop(m, 10, () => 0.29), true);
  assert.equal(shouldDrop(m, 10, () => 0.31), false);
  assert.equal(shouldDrop(m, 0, () => 0), false);
  assert.equal(shouldDrop({ start: 1, rate: 100, full: 1 }, 1, () => 0.99), true);
});
