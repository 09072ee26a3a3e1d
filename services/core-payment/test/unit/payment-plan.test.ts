import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type LockedAccount,
  type PaymentOutcome,
  type PaymentRequest,
  planPayments,
} from '../../src/domain/payments.ts';

const alice = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';
const bob = '0192f5a8-5c1e-7a3b-8c4d-ba0987654321';

function payment(paymentId: string, accountNo: string, amount: bigint, userUuid = alice): PaymentRequest {
  return { paymentId, accountNo, userUuid, amount, orderId: `order-${paymentId}` };
}

describe('payment planning (the cash step of a batch)', () => {
  const accounts = new Map<string, LockedAccount>([
    ['A', { accountNo: 'A', userUuid: alice, status: 'ACTIVE', balance: 10_000n }],
    ['B', { accountNo: 'B', userUuid: bob, status: 'ACTIVE', balance: 500n }],
    ['C', { accountNo: 'C', userUuid: alice, status: 'CLOSED', balance: 9_000n }],
  ]);

  it('debits one account in arrival order, refusing the payment its balance no longer covers', () => {
    const plan = planPayments(
      accounts,
      [payment('p1', 'A', 6_000n), payment('p2', 'A', 5_000n), payment('p3', 'A', 4_000n)],
      new Map(),
    );
    assert.deepEqual(
      plan.payments.map((planned) => planned.outcome),
      [
        { status: 'SUCCEEDED', balanceAfter: 4_000n },
        { status: 'FAILED', failureCode: 'INSUFFICIENT_BALANCE' },
        { status: 'SUCCEEDED', balanceAfter: 0n },
      ],
    );
    assert.deepEqual([...plan.balances], [['A', 0n]]);
  });

  it('answers a missing or foreign account as ACCOUNT_NOT_FOUND and a closed one as ACCOUNT_CLOSED, changing no balance', () => {
    const plan = planPayments(
      accounts,
      [payment('p1', 'Z', 1n), payment('p2', 'B', 1n, alice), payment('p3', 'C', 1n)],
      new Map(),
    );
    assert.deepEqual(
      plan.payments.map((planned) => planned.outcome),
      [
        { status: 'FAILED', failureCode: 'ACCOUNT_NOT_FOUND' },
        { status: 'FAILED', failureCode: 'ACCOUNT_NOT_FOUND' },
        { status: 'FAILED', failureCode: 'ACCOUNT_CLOSED' },
      ],
    );
    assert.equal(plan.balances.size, 0);
  });

  it('debits a payment id once: settled before, or repeated inside the batch, it is answered again', () => {
    const before = new Map<string, PaymentOutcome>([['p0', { status: 'SUCCEEDED', balanceAfter: 7n }]]);
    const plan = planPayments(
      accounts,
      [payment('p0', 'A', 100n), payment('p1', 'A', 100n), payment('p1', 'A', 100n)],
      before,
    );
    assert.deepEqual(
      plan.payments.map((planned) => [planned.fresh, planned.outcome]),
      [
        [false, { status: 'SUCCEEDED', balanceAfter: 7n }],
        [true, { status: 'SUCCEEDED', balanceAfter: 9_900n }],
        [false, { status: 'SUCCEEDED', balanceAfter: 9_900n }],
      ],
    );
    assert.deepEqual([...plan.balances], [['A', 9_900n]]);
  });
});
