import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dueAtMs, requestsDue } from '../suite/open-loop.ts';

test('when the open loop starts, then the first request is due at once, not one interval later', () => {
  assert.equal(requestsDue(0, 100, 1_000), 1);
  assert.equal(dueAtMs(5_000, 0, 100), 5_000);
});

test('when time passes, then each request is due exactly at its own slot', () => {
  assert.equal(requestsDue(9.99, 100, 1_000), 1);
  assert.equal(requestsDue(10, 100, 1_000), 2);
  assert.equal(dueAtMs(0, 1, 100), 10);
  assert.equal(requestsDue(1_000, 1_000, 100_000), 1_001);
  assert.equal(dueAtMs(0, 1_000, 1_000), 1_000);
});

test('when the schedule is over, then no more than the total is ever due', () => {
  assert.equal(requestsDue(60_000, 1_000, 30_000), 30_000);
  assert.equal(requestsDue(-1, 1_000, 30_000), 0);
});
