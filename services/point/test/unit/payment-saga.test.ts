import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyDecision,
  decide,
  IllegalSagaTransitionError,
  type SagaEvent,
  type SagaState,
  type SagaStatus,
} from '../../src/domain/payment-saga.ts';

const attemptsMax = 5;
const succeeded: SagaEvent = { type: 'CASH_SUCCEEDED' };
const failed: SagaEvent = { type: 'CASH_FAILED', failureCode: 'INSUFFICIENT_BALANCE' };
const timedOut: SagaEvent = { type: 'CASH_TIMED_OUT', attemptsMax };
const accepted: SagaEvent = { type: 'ACCEPTED' };
const allEvents: SagaEvent[] = [accepted, succeeded, failed, timedOut];

function state(status: SagaStatus, overrides: Partial<SagaState> = {}): SagaState {
  return {
    status,
    cashAmount: 5_000n,
    pointAmount: 1_000n,
    attempts: status === 'NEW' ? 0 : 1,
    ...overrides,
  };
}

/** Runs events through the machine the way the repositories do; returns the state and every effect. */
function run(start: SagaState, events: SagaEvent[]) {
  let current = start;
  const effects = [];
  for (const event of events) {
    const decision = decide(current, event);
    if (decision.kind === 'transition') effects.push(...decision.effects);
    current = applyDecision(current, decision);
  }
  return { state: current, effects };
}

describe('payment saga: acceptance (NEW)', () => {
  it('when a payment with cash and points is accepted, then it deducts the points, requests the cash (attempt 1) and waits PENDING', () => {
    const decision = decide(state('NEW'), accepted);
    assert.deepEqual(decision, {
      kind: 'transition',
      from: 'NEW',
      to: 'PENDING',
      effects: [
        { type: 'DEDUCT_POINTS', amount: 1_000n },
        { type: 'REQUEST_CASH', attempt: 1 },
      ],
    });
    assert.equal(applyDecision(state('NEW'), decision).attempts, 1);
  });

  it('when a payment uses no points, then it is a cash-only saga: no deduction, one cash request', () => {
    const decision = decide(state('NEW', { pointAmount: 0n }), accepted);
    assert.equal(decision.kind, 'transition');
    assert.deepEqual(decision.kind === 'transition' && decision.effects, [
      { type: 'REQUEST_CASH', attempt: 1 },
    ]);
  });

  it('when a payment needs no cash, then it completes at once without the core', () => {
    const decision = decide(state('NEW', { cashAmount: 0n }), accepted);
    assert.deepEqual(decision, {
      kind: 'transition',
      from: 'NEW',
      to: 'COMPLETED',
      effects: [{ type: 'DEDUCT_POINTS', amount: 1_000n }],
    });
  });

  it('when a cash event or a timeout reaches a payment that was never accepted, then it is rejected as illegal', () => {
    for (const event of [succeeded, failed, timedOut]) {
      assert.throws(() => decide(state('NEW'), event), IllegalSagaTransitionError);
    }
  });
});

describe('payment saga: the cash step (PENDING)', () => {
  it('when the core debited the cash, then the payment COMPLETES with nothing to undo', () => {
    assert.deepEqual(decide(state('PENDING'), succeeded), {
      kind: 'transition',
      from: 'PENDING',
      to: 'COMPLETED',
      effects: [],
    });
  });

  it('when the core refused the cash, then the points are refunded beside the failure and it FAILS with that code', () => {
    assert.deepEqual(decide(state('PENDING'), failed), {
      kind: 'transition',
      from: 'PENDING',
      to: 'FAILED',
      effects: [{ type: 'REFUND_POINTS', amount: 1_000n }],
      failureCode: 'INSUFFICIENT_BALANCE',
    });
  });

  it('when a cash-only payment fails, then there is nothing to refund', () => {
    const decision = decide(state('PENDING', { pointAmount: 0n }), failed);
    assert.equal(decision.kind === 'transition' && decision.effects.length, 0);
  });

  it('when the core does not answer in time, then the request is re-sent with the next attempt number and the payment stays PENDING, never compensated', () => {
    const { state: after, effects } = run(state('PENDING'), [timedOut, timedOut, timedOut, timedOut]);
    assert.equal(after.status, 'PENDING');
    assert.equal(after.attempts, 5);
    assert.deepEqual(effects, [
      { type: 'REQUEST_CASH', attempt: 2 },
      { type: 'REQUEST_CASH', attempt: 3 },
      { type: 'REQUEST_CASH', attempt: 4 },
      { type: 'REQUEST_CASH', attempt: 5 },
    ]);
  });

  it('when the attempts are exhausted, then the payment is reported stuck and still not compensated', () => {
    const decision = decide(state('PENDING', { attempts: attemptsMax }), timedOut);
    assert.deepEqual(decision, {
      kind: 'transition',
      from: 'PENDING',
      to: 'PENDING',
      effects: [{ type: 'REPORT_STUCK' }],
    });
  });

  it('when a stuck payment finally hears from the core, then it still settles normally', () => {
    const stuck = state('PENDING', { attempts: attemptsMax });
    assert.equal(run(stuck, [timedOut, succeeded]).state.status, 'COMPLETED');
    assert.deepEqual(run(stuck, [timedOut, failed]).effects, [
      { type: 'REPORT_STUCK' },
      { type: 'REFUND_POINTS', amount: 1_000n },
    ]);
  });

  it('when a PENDING payment is accepted again, then it is rejected as illegal', () => {
    assert.throws(() => decide(state('PENDING'), accepted), IllegalSagaTransitionError);
  });
});

describe('payment saga: terminal states ignore late, duplicate and reordered events', () => {
  for (const terminal of ['COMPLETED', 'FAILED'] as const) {
    it(`when any cash event or timeout reaches a ${terminal} payment, then nothing happens`, () => {
      for (const event of [succeeded, failed, timedOut]) {
        const decision = decide(state(terminal), event);
        assert.equal(decision.kind, 'ignored');
        assert.deepEqual(applyDecision(state(terminal), decision), state(terminal));
      }
    });

    it(`when a ${terminal} payment is accepted again, then it is rejected as illegal`, () => {
      assert.throws(() => decide(state(terminal), accepted), IllegalSagaTransitionError);
    });
  }

  it('when the opposite outcome arrives after settlement, then it is flagged as conflicting and still changes nothing', () => {
    assert.deepEqual(decide(state('COMPLETED'), failed), { kind: 'ignored', reason: 'CONFLICTING_OUTCOME' });
    assert.deepEqual(decide(state('FAILED'), succeeded), { kind: 'ignored', reason: 'CONFLICTING_OUTCOME' });
    assert.deepEqual(decide(state('COMPLETED'), succeeded), { kind: 'ignored', reason: 'ALREADY_TERMINAL' });
  });

  it('when the same failure is delivered many times, interleaved with timeouts, then the points are refunded exactly once', () => {
    const { state: after, effects } = run(state('PENDING'), [failed, timedOut, failed, failed, succeeded]);
    assert.equal(after.status, 'FAILED');
    assert.deepEqual(effects, [{ type: 'REFUND_POINTS', amount: 1_000n }]);
  });

  it('when every order of a re-sent request and two identical answers is played, then each ends in one terminal state with at most one refund', () => {
    const orders: SagaEvent[][] = [
      [timedOut, failed, failed],
      [failed, timedOut, failed],
      [failed, failed, timedOut],
    ];
    for (const events of orders) {
      const { state: after, effects } = run(state('PENDING'), events);
      assert.equal(after.status, 'FAILED');
      assert.equal(effects.filter((effect) => effect.type === 'REFUND_POINTS').length, 1);
    }
  });
});

describe('payment saga: the transition table is total', () => {
  it('when any event reaches any state, then the machine either decides or rejects it as illegal — never anything else', () => {
    const legal: Record<SagaStatus, SagaEvent['type'][]> = {
      NEW: ['ACCEPTED'],
      PENDING: ['CASH_SUCCEEDED', 'CASH_FAILED', 'CASH_TIMED_OUT'],
      COMPLETED: ['CASH_SUCCEEDED', 'CASH_FAILED', 'CASH_TIMED_OUT'],
      FAILED: ['CASH_SUCCEEDED', 'CASH_FAILED', 'CASH_TIMED_OUT'],
    };
    for (const status of ['NEW', 'PENDING', 'COMPLETED', 'FAILED'] as const) {
      for (const event of allEvents) {
        if (legal[status].includes(event.type)) {
          assert.doesNotThrow(() => decide(state(status), event), `${status} + ${event.type}`);
        } else {
          assert.throws(
            () => decide(state(status), event),
            IllegalSagaTransitionError,
            `${status} + ${event.type}`,
          );
        }
      }
    }
  });
});
