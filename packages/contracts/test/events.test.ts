import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allTopics,
  createEvent,
  dlqTopic,
  type EventData,
  type EventType,
  EventValidationError,
  messageKey,
  newEventId,
  topics,
  validateEvent,
} from '../src/events.ts';

const accountNo = '110-234-567890';
const userUuid = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';
const now = '2026-11-24T10:00:00.000Z';
const context = { source: 'test', correlationId: 'corr-1' };

const validData: { [T in EventType]: EventData<T> } = {
  'deposit.requested': { depositId: newEventId(), accountNo, userUuid, amount: 50_000, requestedAt: now },
  'deposit.settled': {
    depositId: newEventId(),
    accountNo,
    status: 'COMPLETED',
    balanceAfter: 50_000,
    settledAt: now,
  },
  'payment.requested': {
    paymentId: newEventId(),
    userUuid,
    accountNo,
    amount: 1,
    orderId: 'order-1',
    attempt: 1,
  },
  'payment.settled': {
    paymentId: newEventId(),
    userUuid,
    accountNo,
    status: 'FAILED',
    failureCode: 'INSUFFICIENT_BALANCE',
    settledAt: now,
  },
  'coupon.issued': {
    couponId: newEventId(),
    campaignId: newEventId(),
    userUuid,
    code: 'ABC-123',
    issuedAt: now,
  },
  'coupon.recorded': { couponId: newEventId(), campaignId: newEventId(), userUuid, recordedAt: now },
};

function expectInvalid(topic: string, value: unknown, pathFragment: string): void {
  assert.throws(
    () => validateEvent(topic, value),
    (error: unknown) => {
      assert.ok(error instanceof EventValidationError);
      assert.equal(error.topic, topic);
      assert.ok(
        error.issues.some((issue) => issue.path.includes(pathFragment)),
        `expected an issue at ${pathFragment}, got ${JSON.stringify(error.issues)}`,
      );
      return true;
    },
  );
}

describe('event contracts', () => {
  for (const type of allTopics) {
    it(`when a valid ${type} event is created, then it validates and carries a UUIDv7 id`, () => {
      const event = createEvent(type, validData[type] as never, context);
      assert.equal(event.type, type);
      assert.equal(event.version, 1);
      assert.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.deepEqual(validateEvent(type, JSON.parse(JSON.stringify(event))), event);
    });
  }

  it('when events are keyed, then deposits and payment requests go by account, settlements by user, coupons by campaign', () => {
    const deposit = createEvent('deposit.requested', validData['deposit.requested'], context);
    const settled = createEvent('payment.settled', validData['payment.settled'], context);
    const coupon = createEvent('coupon.issued', validData['coupon.issued'], context);
    assert.equal(messageKey(deposit), accountNo);
    assert.equal(messageKey(settled), userUuid);
    assert.equal(messageKey(coupon), validData['coupon.issued'].campaignId);
  });

  it('when ids are made in a burst, then they sort in creation order', () => {
    const ids = Array.from({ length: 5000 }, () => newEventId());
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('when an amount is a float, zero, too large or a string, then validation names the amount', () => {
    const base = createEvent('deposit.requested', validData['deposit.requested'], context);
    for (const amount of [1.5, 0, 100_000_001, '100', -5]) {
      expectInvalid('deposit.requested', { ...base, data: { ...base.data, amount } }, '/data/amount');
    }
  });

  it('when a balance exceeds 10^15, then the settlement is rejected', () => {
    const base = createEvent('deposit.settled', validData['deposit.settled'], context);
    expectInvalid(
      'deposit.settled',
      { ...base, data: { ...base.data, balanceAfter: 10 ** 15 + 1 } },
      '/data/balanceAfter',
    );
  });

  it('when the account number is malformed or the status unknown, then each is reported', () => {
    const base = createEvent('payment.settled', validData['payment.settled'], context);
    expectInvalid(
      'payment.settled',
      { ...base, data: { ...base.data, accountNo: '1102345678' } },
      '/data/accountNo',
    );
    expectInvalid('payment.settled', { ...base, data: { ...base.data, status: 'DONE' } }, '/data/status');
  });

  it('when the envelope is broken, then the missing or wrong fields are reported', () => {
    const base = createEvent('coupon.issued', validData['coupon.issued'], context);
    const { correlationId: _dropped, ...withoutCorrelation } = base;
    expectInvalid('coupon.issued', withoutCorrelation, '');
    expectInvalid('coupon.issued', { ...base, id: 'not-a-uuid' }, '/id');
    expectInvalid('coupon.issued', { ...base, occurredAt: 'yesterday' }, '/occurredAt');
    expectInvalid('coupon.issued', { ...base, version: 2 }, '/version');
  });

  it('when an event arrives on the wrong topic, then its type does not match', () => {
    const coupon = createEvent('coupon.issued', validData['coupon.issued'], context);
    expectInvalid('coupon.recorded', coupon, '/type');
  });

  it('when a payment attempt is zero, then it is rejected', () => {
    const base = createEvent('payment.requested', validData['payment.requested'], context);
    expectInvalid('payment.requested', { ...base, data: { ...base.data, attempt: 0 } }, '/data/attempt');
  });

  it('when the topic has no schema or the value is not an object, then validation fails with a typed error', () => {
    expectInvalid('nope.topic', {}, '');
    expectInvalid('deposit.requested', 'just a string', '');
    expectInvalid('deposit.requested', null, '');
  });

  it('when createEvent is given bad data, then it throws instead of producing a bad event', () => {
    assert.throws(
      () => createEvent('deposit.requested', { ...validData['deposit.requested'], amount: 0 }, context),
      EventValidationError,
    );
  });

  it('when naming dead-letter topics, then each topic gets a .dlq twin', () => {
    assert.equal(dlqTopic(topics.depositRequested), 'deposit.requested.dlq');
  });
});
