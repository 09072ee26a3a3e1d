import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@nuri/platform/config';
import { AppError } from '@nuri/platform/errors';
import { uuidv7 } from '@nuri/platform/ids';
import { loadServiceConfig } from '../../src/config.ts';
import { cashRequestDeadline } from '../../src/domain/payments.ts';
import { decodeCursor, encodeCursor } from '../../src/domain/points.ts';

const secrets = { NURI_INTERNAL_TOKEN: 'x'.repeat(40), NURI_INTERNAL_CALLERS: `ops=${'y'.repeat(40)}` };

describe('point policies', () => {
  it('when a cash request is sent, then its deadline backs off by the factor per attempt and stops at the cap', () => {
    const policy = { timeoutMs: 30_000, attemptsMax: 5, backoffFactor: 2, backoffMaxMs: 100_000 };
    const sentAt = new Date(0);
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => cashRequestDeadline(sentAt, attempt, policy).getTime()),
      [30_000, 60_000, 100_000, 100_000, 100_000],
    );
  });

  it('when a history cursor is issued, then it decodes to the same position; one issued before the write order was kept still reads; anything else is a 400', () => {
    for (const seq of [1n, 123_456n, 2n ** 64n - 1n])
      assert.deepEqual(decodeCursor(encodeCursor(seq)), { seq });
    const id = uuidv7();
    const legacy = Buffer.from(JSON.stringify({ before: id })).toString('base64url');
    assert.deepEqual(decodeCursor(legacy), { id });
    const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const bad of [
      'nonsense',
      cursorOf({ before: 'not-a-uuid' }),
      cursorOf({ seq: '0' }),
      cursorOf({ seq: '012' }),
      cursorOf({ seq: '-1' }),
      cursorOf({ seq: 12 }),
      cursorOf({ seq: (2n ** 64n).toString() }),
      Buffer.from('[]').toString('base64url'),
    ]) {
      assert.throws(
        () => decodeCursor(bad),
        (error: unknown) => error instanceof AppError && error.status === 400,
        bad,
      );
    }
  });

  it('when only the internal tokens are set, then the documented defaults apply (30 s timeout, 5 attempts, port 8202)', () => {
    const config = loadServiceConfig(secrets);
    assert.equal(config.NURI_POINT_PORT, 8202);
    assert.equal(config.NURI_POINT_PAYMENT_TIMEOUT_MS, 30_000);
    assert.equal(config.NURI_POINT_PAYMENT_ATTEMPTS_MAX, 5);
    assert.equal(config.NURI_POINT_PAYMENT_REQUESTED_TOPIC, 'payment.requested');
    assert.equal(config.NURI_POINT_PAYMENT_SETTLED_TOPIC, 'payment.settled');
  });

  it('when an internal token is missing or a limit is out of range, then boot fails naming the variable', () => {
    assert.throws(
      () => loadServiceConfig({}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /NURI_INTERNAL_TOKEN /.test(error.message) &&
        /NURI_INTERNAL_CALLERS /.test(error.message),
    );
    assert.throws(
      () => loadServiceConfig({ ...secrets, NURI_POINT_PAYMENT_ATTEMPTS_MAX: '0' }),
      (error: unknown) =>
        error instanceof ConfigError && /NURI_POINT_PAYMENT_ATTEMPTS_MAX/.test(error.message),
    );
  });
});
