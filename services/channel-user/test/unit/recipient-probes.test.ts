import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppError } from '@nuri/platform/errors';
import { createRecipientProbeGuard, type LookupCounter } from '../../src/domain/transfers.ts';

/** A look-up counter of one fixed window per user, in memory: the limit logic only. */
function countingLookups(retryAfterSeconds = 40): LookupCounter & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    counts,
    async hit(userUuid, perMinuteMax) {
      const count = (counts.get(userUuid) ?? 0) + 1;
      counts.set(userUuid, count);
      return count <= perMinuteMax ? { limited: false } : { limited: true, retryAfterSeconds };
    },
  };
}

describe('the recipient probe guard', () => {
  it('when a user’s misses pass the limit, then their transfers are refused until the window’s end, and then allowed again', async () => {
    let now = 1_000_000;
    const guard = createRecipientProbeGuard({
      lookups: countingLookups(40),
      perMinuteMax: 3,
      now: () => now,
    });
    for (let miss = 0; miss < 3; miss += 1) {
      guard.refuseIfBlocked('u1');
      await guard.countMiss('u1');
    }
    guard.refuseIfBlocked('u1');
    await guard.countMiss('u1');
    assert.throws(
      () => guard.refuseIfBlocked('u1'),
      (error: AppError) =>
        error.status === 429 && error.code === 'RATE_LIMITED' && error.extra.retryAfterSeconds === 40,
    );
    guard.refuseIfBlocked('u2');
    now += 39_000;
    assert.throws(
      () => guard.refuseIfBlocked('u1'),
      (error: AppError) => error.extra.retryAfterSeconds === 1,
    );
    now += 1_000;
    guard.refuseIfBlocked('u1');
  });

  it('when more users are blocked than it keeps, then those not seen longest are forgotten first', async () => {
    let now = 0;
    const guard = createRecipientProbeGuard({
      lookups: countingLookups(10),
      perMinuteMax: 0,
      usersMax: 2,
      now: () => now,
    });
    await guard.countMiss('a');
    now = 5_000;
    await guard.countMiss('b');
    now = 11_000; // a's block has ended, b's has not
    await guard.countMiss('c');
    assert.throws(() => guard.refuseIfBlocked('b'));
    assert.throws(() => guard.refuseIfBlocked('c'));
    await guard.countMiss('d'); // full of live blocks: b, seen before c, is forgotten
    guard.refuseIfBlocked('b');
    assert.throws(() => guard.refuseIfBlocked('c'));
    assert.throws(() => guard.refuseIfBlocked('d'));
  });
});
