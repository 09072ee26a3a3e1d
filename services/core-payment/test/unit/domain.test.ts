import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '@nuri/platform/errors';
import {
  type Account,
  type AccountStore,
  decodeCursor,
  encodeCursor,
  normalizeAlias,
  openAccount,
} from '../../src/domain/accounts.ts';
import { type DepositRequest, type LockedAccount, planDeposits } from '../../src/domain/deposits.ts';
import { legsOf, signedAmount } from '../../src/domain/ledger.ts';
import { explainRefusedDebit } from '../../src/domain/payments.ts';
import { reconcile } from '../../src/domain/reconciliation.ts';
import { type StoredWithdrawal, type WithdrawalStore, withdraw } from '../../src/domain/withdrawals.ts';

const alice = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';
const bob = '0192f5a8-5c1e-7a3b-8c4d-ba0987654321';

function deposit(depositId: string, accountNo: string, amount: bigint, userUuid = alice): DepositRequest {
  return { depositId, accountNo, userUuid, amount };
}

function appError(code: string) {
  return (error: unknown) => error instanceof AppError && error.code === code;
}

describe('deposit planning', () => {
  const accounts = new Map<string, LockedAccount>([
    ['110-000-000001', { accountNo: '110-000-000001', userUuid: alice, status: 'ACTIVE', balance: 100n }],
    ['110-000-000002', { accountNo: '110-000-000002', userUuid: alice, status: 'CLOSED', balance: 0n }],
    [
      '110-000-000003',
      { accountNo: '110-000-000003', userUuid: alice, status: 'ACTIVE', balance: 10n ** 15n - 5n },
    ],
  ]);

  it('when several deposits hit one account, then each balanceAfter runs on from the previous one', () => {
    const plan = planDeposits(
      accounts,
      [deposit('d1', '110-000-000001', 10n), deposit('d2', '110-000-000001', 20n)],
      new Map(),
    );
    assert.deepEqual(
      plan.deposits.map((item) => item.outcome),
      [
        { depositId: 'd1', accountNo: '110-000-000001', status: 'COMPLETED', balanceAfter: 110n },
        { depositId: 'd2', accountNo: '110-000-000001', status: 'COMPLETED', balanceAfter: 130n },
      ],
    );
    assert.deepEqual([...plan.balances], [['110-000-000001', 130n]]);
  });

  it('when an account is missing, foreign, closed or would pass 10^15, then that deposit fails with its code and the others go on', () => {
    const plan = planDeposits(
      accounts,
      [
        deposit('missing', '999-999-999999', 1n),
        deposit('foreign', '110-000-000001', 1n, bob),
        deposit('closed', '110-000-000002', 1n),
        deposit('limit', '110-000-000003', 6n),
        deposit('fits', '110-000-000003', 5n),
      ],
      new Map(),
    );
    assert.deepEqual(
      plan.deposits.map(({ outcome }) =>
        outcome.status === 'FAILED' ? outcome.failureCode : outcome.balanceAfter,
      ),
      ['ACCOUNT_NOT_FOUND', 'ACCOUNT_NOT_FOUND', 'ACCOUNT_CLOSED', 'BALANCE_LIMIT_EXCEEDED', 10n ** 15n],
    );
  });

  it('when a deposit id was settled before or repeats in the batch, then it is answered with the first outcome and applied once', () => {
    const earlier = {
      depositId: 'old',
      accountNo: '110-000-000001',
      status: 'COMPLETED' as const,
      balanceAfter: 77n,
    };
    const plan = planDeposits(
      accounts,
      [
        deposit('old', '110-000-000001', 50n),
        deposit('new', '110-000-000001', 5n),
        deposit('new', '110-000-000001', 5n),
      ],
      new Map([['old', earlier]]),
    );
    assert.deepEqual(
      plan.deposits.map((item) => item.fresh),
      [false, true, false],
    );
    assert.deepEqual(plan.deposits[0]!.outcome, earlier);
    assert.deepEqual(plan.deposits[2]!.outcome, plan.deposits[1]!.outcome);
    assert.equal(plan.balances.get('110-000-000001'), 105n);
  });
});

describe('ledger legs', () => {
  it('when any movement is split into legs, then they net to zero and the customer side follows the type', () => {
    for (const type of ['DEPOSIT', 'WITHDRAWAL', 'PAYMENT'] as const) {
      const legs = legsOf({
        transactionId: 't',
        type,
        reference: 'r',
        accountNo: 'a',
        amount: 500n,
        balanceAfter: 0n,
      });
      assert.equal(signedAmount(legs[0]) + signedAmount(legs[1]), 0n);
      assert.equal(legs[0].side, type === 'DEPOSIT' ? 'CREDIT' : 'DEBIT');
      assert.match(legs[1].accountNo, /^INTERNAL:/);
      assert.equal(legs[1].balanceAfter, null);
    }
  });

  it('when a movement would leave a negative balance, then it is a bug and asserts', () => {
    assert.throws(() =>
      legsOf({
        transactionId: 't',
        type: 'WITHDRAWAL',
        reference: 'r',
        accountNo: 'a',
        amount: 1n,
        balanceAfter: -1n,
      }),
    );
  });
});

describe('withdrawal replays', () => {
  const request = { accountNo: '110-000-000001', userUuid: alice, amount: 1_000n, idempotencyKey: 'k' };
  const storeAnswering = (stored: StoredWithdrawal): WithdrawalStore => ({
    withdraw: async () => ({ kind: 'replay', stored }),
  });

  it('when the stored request matches, then its answer is replayed; when the body differs, then 422', async () => {
    const stored = {
      withdrawalId: 'w1',
      accountNo: request.accountNo,
      amount: 1_000n,
      status: 'SUCCEEDED' as const,
      failureCode: null,
      balanceAfter: 4_000n,
    };
    assert.deepEqual(await withdraw(storeAnswering(stored), request), {
      withdrawalId: 'w1',
      accountNo: request.accountNo,
      amount: 1_000n,
      balanceAfter: 4_000n,
    });
    await assert.rejects(
      withdraw(storeAnswering(stored), { ...request, amount: 999n }),
      appError('IDEMPOTENCY_KEY_REUSED'),
    );
    await assert.rejects(
      withdraw(storeAnswering(stored), { ...request, accountNo: '110-000-000002' }),
      appError('IDEMPOTENCY_KEY_REUSED'),
    );
    await assert.rejects(
      withdraw(storeAnswering({ ...stored, status: 'REJECTED', balanceAfter: null }), request),
      appError('INSUFFICIENT_BALANCE'),
    );
  });
});

describe('account rules', () => {
  it('when an alias is padded, then it is trimmed; blank or over 30 characters is refused', () => {
    assert.equal(normalizeAlias(undefined), null);
    assert.equal(normalizeAlias('  여행  '), '여행');
    assert.equal(normalizeAlias('가'.repeat(30)), '가'.repeat(30));
    assert.throws(() => normalizeAlias('   '), appError('VALIDATION_FAILED'));
    assert.throws(() => normalizeAlias('x'.repeat(31)), appError('VALIDATION_FAILED'));
  });

  it('when account numbers collide, then opening retries with a new one; at the limit, then 409', async () => {
    const tried: string[] = [];
    const store = {
      openAccount: async ({ accountNo }: { accountNo: string }) => {
        tried.push(accountNo);
        if (tried.length < 3) return { kind: 'collision' as const };
        return { kind: 'opened' as const, account: { accountNo } as Account };
      },
    } as unknown as AccountStore;
    let next = 0;
    const { account } = await openAccount(store, { userUuid: alice }, () => `110-000-00000${next++}`);
    assert.equal(account.accountNo, '110-000-000002');
    assert.deepEqual(tried, ['110-000-000000', '110-000-000001', '110-000-000002']);

    const full = { openAccount: async () => ({ kind: 'limitReached' as const }) } as unknown as AccountStore;
    await assert.rejects(openAccount(full, { userUuid: alice }), appError('ACCOUNT_LIMIT_REACHED'));
  });

  it('when a cursor round-trips, then the statement position comes back; an e1 cursor gives its entry id; anything else is a 400', () => {
    assert.deepEqual(decodeCursor(encodeCursor('42')), { seq: '42' });
    assert.deepEqual(decodeCursor(encodeCursor('9223372036854775807')), { seq: '9223372036854775807' });
    const entryId = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';
    assert.deepEqual(decodeCursor(Buffer.from(`e1:${entryId}`).toString('base64url')), { entryId });
    assert.throws(() => decodeCursor('garbage'), appError('VALIDATION_FAILED'));
    for (const text of [
      'e1:not-a-uuid',
      'e2:',
      'e2:0',
      'e2:-1',
      'e2:1.5',
      'e2:9223372036854775808',
      `e2:${entryId}`,
    ]) {
      assert.throws(
        () => decodeCursor(Buffer.from(text).toString('base64url')),
        appError('VALIDATION_FAILED'),
        text,
      );
    }
  });

  it('when a debit matched nothing, then a missing or foreign account is NOT_FOUND, a closed one CLOSED, else funds', () => {
    assert.equal(explainRefusedDebit(undefined, alice), 'ACCOUNT_NOT_FOUND');
    assert.equal(explainRefusedDebit({ userUuid: bob, status: 'ACTIVE' }, alice), 'ACCOUNT_NOT_FOUND');
    assert.equal(explainRefusedDebit({ userUuid: alice, status: 'CLOSED' }, alice), 'ACCOUNT_CLOSED');
    assert.equal(explainRefusedDebit({ userUuid: alice, status: 'ACTIVE' }, alice), 'INSUFFICIENT_BALANCE');
  });

  it('when reconciliation finds nothing and the money supply adds up, then ok; any finding makes it not ok', async () => {
    const clean = {
      accountsChecked: 3,
      balanceMismatches: [],
      unbalancedTransactions: [],
      duplicateApplications: [],
      transferMismatches: [],
      moneySupply: {
        balances: 700n,
        deposits: 1_000n,
        withdrawals: 200n,
        payments: 100n,
        transfersOut: 50n,
        transfersIn: 50n,
      },
    };
    assert.equal((await reconcile({ findLedgerProblems: async () => clean })).ok, true);
    for (const broken of [
      { ...clean, unbalancedTransactions: ['t1'] },
      { ...clean, transferMismatches: ['t2'] },
      { ...clean, moneySupply: { ...clean.moneySupply, balances: 701n } },
      { ...clean, moneySupply: { ...clean.moneySupply, transfersIn: 51n } },
    ]) {
      assert.equal((await reconcile({ findLedgerProblems: async () => broken })).ok, false);
    }
  });
});
