import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../src/cdc-client.js';

const options = { initialMs: 500, maxMs: 30_000 };

test('the delay doubles from initialMs and stops at maxMs', () => {
  const highest = (attempt) => backoffDelay(attempt, options, () => 1);
  assert.deepEqual([0, 1, 2, 3].map(highest), [500, 1000, 2000, 4000]);
  assert.equal(highest(6), 30_000);
  assert.equal(highest(60), 30_000);
});

test('jitter keeps the delay between half the ceiling and the ceiling', () => {
  assert.equal(backoffDelay(3, options, () => 0), 2000);
  for (let i = 0; i < 1000; i++) {
    const delay = backoffDelay(3, options);
    assert.ok(delay >= 2000 && delay <= 4000, `${delay}`);
  }
});

test('defaults: 500 ms first, 30 s at most', () => {
  assert.equal(backoffDelay(0, undefined, () => 1), 500);
  assert.equal(backoffDelay(20, undefined, () => 1), 30_000);
});
