import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCircuitBreaker } from '../../src/clients/circuit-breaker.ts';

function breakerAt(clock: { now: number }) {
  return createCircuitBreaker({ failuresMax: 3, openMs: 1_000, now: () => clock.now });
}

test('when failures stay below the threshold, then calls keep flowing and a success resets the count', () => {
  const clock = { now: 0 };
  const breaker = breakerAt(clock);
  breaker.recordFailure();
  breaker.recordFailure();
  breaker.recordSuccess();
  breaker.recordFailure();
  breaker.recordFailure();
  assert.equal(breaker.state, 'closed');
  assert.equal(breaker.tryAcquire(), true);
});

test('when the threshold is reached, then calls fail fast until the open period ends, then one probe goes out', () => {
  const clock = { now: 0 };
  const breaker = breakerAt(clock);
  for (let index = 0; index < 3; index += 1) breaker.recordFailure();
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.tryAcquire(), false);
  clock.now = 999;
  assert.equal(breaker.tryAcquire(), false);
  clock.now = 1_000;
  assert.equal(breaker.tryAcquire(), true, 'the probe');
  assert.equal(breaker.state, 'halfOpen');
  assert.equal(breaker.tryAcquire(), false, 'only one probe at a time');
});

test('when the probe succeeds, then the circuit closes; when it fails, then it opens for another period', () => {
  const clock = { now: 0 };
  const breaker = breakerAt(clock);
  for (let index = 0; index < 3; index += 1) breaker.recordFailure();
  clock.now = 1_000;
  breaker.tryAcquire();
  breaker.recordFailure();
  assert.equal(breaker.state, 'open');
  clock.now = 1_500;
  assert.equal(breaker.tryAcquire(), false);
  clock.now = 2_000;
  assert.equal(breaker.tryAcquire(), true);
  breaker.recordSuccess();
  assert.equal(breaker.state, 'closed');
  assert.equal(breaker.tryAcquire(), true);
  assert.equal(breaker.tryAcquire(), true);
});
