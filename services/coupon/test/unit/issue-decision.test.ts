import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  answerHolder,
  decideAck,
  decideHandOff,
  decideIssue,
  decideRollback,
} from '../../src/domain/issue-decision.ts';
import { campaign, heldByA, issueCases, newCoupon, nowMs, userA, userB } from '../issue-cases.ts';

describe('the issue decision (pure state machine)', () => {
  for (const testCase of issueCases) {
    it(testCase.name, () => {
      const decision = decideIssue(testCase.state, { userUuid: testCase.userUuid, ...newCoupon, nowMs });
      assert.equal(decision.outcome, testCase.expected);
      if (decision.outcome === 'ISSUED') {
        assert.equal(decision.remaining, testCase.expectedRemaining);
        assert.deepEqual(decision.coupon, { ...newCoupon, issuedAtMs: nowMs, handedOff: false });
      }
      if (decision.outcome === 'ALREADY_ISSUED') assert.equal(decision.held.couponId, heldByA.couponId);
    });
  }
});

describe('the rollback decision', () => {
  const holding = campaign({ holders: new Map([[userA, heldByA]]) });

  it('when the user still holds that coupon, then it is rolled back', () => {
    assert.equal(decideRollback(holding, userA, heldByA.couponId), 'ROLLED_BACK');
  });
  it('when the user holds another coupon, then nothing is touched', () => {
    assert.equal(decideRollback(holding, userA, newCoupon.couponId), 'NOT_HELD');
  });
  it('when the user holds nothing, then nothing is touched', () => {
    assert.equal(decideRollback(holding, userB, heldByA.couponId), 'NOT_HELD');
  });
  it('when the coupon was already seen in Kafka, then it stays (the core will record it)', () => {
    const handedOff = campaign({ holders: new Map([[userA, { ...heldByA, handedOff: true }]]) });
    assert.equal(decideRollback(handedOff, userA, heldByA.couponId), 'HANDED_OFF');
  });
  it('when the campaign is not loaded, then NOT_LOADED', () => {
    assert.equal(decideRollback(undefined, userA, heldByA.couponId), 'NOT_LOADED');
  });
});

describe('the hand-off decision (a coupon.issued read back from Kafka)', () => {
  it('when Redis holds that coupon, then HELD', () => {
    assert.equal(
      decideHandOff(campaign({ holders: new Map([[userA, heldByA]]) }), userA, heldByA.couponId),
      'HELD',
    );
  });
  it('when Redis holds another coupon for the user, then CONFLICT', () => {
    const state = campaign({ holders: new Map([[userA, heldByA]]) });
    assert.equal(decideHandOff(state, userA, newCoupon.couponId), 'CONFLICT');
  });
  it('when Redis lost it to a rollback and stock is left, then ADOPTED', () => {
    assert.equal(decideHandOff(campaign(), userB, newCoupon.couponId), 'ADOPTED');
  });
  it('when Redis lost it to a rollback and no stock is left, then OVERSOLD', () => {
    assert.equal(decideHandOff(campaign({ remaining: 0 }), userB, newCoupon.couponId), 'OVERSOLD');
  });
});

describe('what a user who already holds a coupon is told', () => {
  const acked = { ...heldByA, handedOff: true };
  it('when its send has not been acked, then SENDING: it may yet be rolled back, so it is not named', () => {
    assert.equal(answerHolder({ held: heldByA, unconfirmed: false, recorded: false }), 'SENDING');
  });
  it('when Kafka has it, then HELD (409 naming it)', () => {
    assert.equal(answerHolder({ held: acked, unconfirmed: false, recorded: false }), 'HELD');
  });
  it('when the core recorded it though its Kafka mark is missing, then HELD', () => {
    assert.equal(answerHolder({ held: heldByA, unconfirmed: false, recorded: true }), 'HELD');
  });
  it('when an earlier request was answered 503 with its fate unknown, then CONFIRM, acked or not', () => {
    assert.equal(answerHolder({ held: heldByA, unconfirmed: true, recorded: false }), 'CONFIRM');
    assert.equal(answerHolder({ held: acked, unconfirmed: true, recorded: false }), 'CONFIRM');
  });
});

describe('the ack decision (the broker acked a send)', () => {
  it('when the user holds that coupon, then ACKED', () => {
    assert.equal(
      decideAck(campaign({ holders: new Map([[userA, heldByA]]) }), userA, heldByA.couponId),
      'ACKED',
    );
  });
  it('when the user holds another coupon or none, then NOT_HELD', () => {
    const state = campaign({ holders: new Map([[userA, heldByA]]) });
    assert.equal(decideAck(state, userA, newCoupon.couponId), 'NOT_HELD');
    assert.equal(decideAck(state, userB, heldByA.couponId), 'NOT_HELD');
  });
  it('when the campaign is not loaded, then NOT_LOADED', () => {
    assert.equal(decideAck(undefined, userA, heldByA.couponId), 'NOT_LOADED');
  });
});
