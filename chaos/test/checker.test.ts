import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attempt } from '../../e2e/workload.ts';
import {
  type BankState,
  checkAvailability,
  checkMoney,
  checkPoints,
  checkWithdrawals,
  type StatementLine,
} from '../checker.ts';
import type { FaultEvent } from '../faults.ts';
import type { Operation } from '../record.ts';
import { serverErrorProblem } from '../workload.ts';

let nextId = 1;
function operation(fields: Partial<Operation> & Pick<Operation, 'kind'>): Operation {
  return {
    id: nextId++,
    customer: 0,
    route: '',
    startedAt: 0,
    endedAt: 1,
    attempts: 1,
    outcome: 'definite',
    ...fields,
  };
}

function line(type: string, amount: number, reference: string, balanceAfter: number): StatementLine {
  return { id: reference, type, amount, reference, balanceAfter };
}

function state(accounts: Record<string, { balance: number; lines: StatementLine[] }>): BankState {
  return {
    accounts: new Map(
      Object.entries(accounts).map(([accountNo, account]) => [accountNo, { ...account, owner: 0 }]),
    ),
    wallets: new Map(),
    coupons: new Map(),
    campaigns: new Map(),
    unreadable: [],
  };
}

describe('the invariants', () => {
  it('when the balances match what the client was told, deposits, withdrawals, transfers and a completed payment included, then money is conserved', () => {
    const operations = [
      operation({ kind: 'deposit', status: 202, accountNo: 'A', amount: 1_000, ref: 'd1' }),
      operation({ kind: 'withdrawal', status: 200, accountNo: 'A', amount: 300, ref: 'w1' }),
      operation({
        kind: 'withdrawal',
        status: 409,
        code: 'INSUFFICIENT_BALANCE',
        accountNo: 'A',
        amount: 9_999,
      }),
      operation({ kind: 'transfer', status: 200, accountNo: 'A', toAccountNo: 'B', amount: 200, ref: 't1' }),
      operation({
        kind: 'payment',
        status: 202,
        accountNo: 'A',
        cashAmount: 100,
        pointAmount: 0,
        ref: 'p1',
        settled: { status: 'COMPLETED', readAt: 2 },
      }),
    ];
    const bank = state({
      A: {
        balance: 400,
        lines: [
          line('PAYMENT', 100, 'p1', 400),
          line('TRANSFER_OUT', 200, 't1', 500),
          line('WITHDRAWAL', 300, 'w1', 700),
          line('DEPOSIT', 1_000, 'd1', 1_000),
        ],
      },
      B: { balance: 200, lines: [line('TRANSFER_IN', 200, 't1', 200)] },
    });
    const money = checkMoney(operations, bank);
    assert.equal(money.ok, true, money.findings.join('; '));
    assert.equal(checkWithdrawals(operations, bank).ok, true);
  });

  it('when a withdrawal the client was told 409 shows on the statement, then withdrawals-exactly-once and money-conserved break and say which', () => {
    const operations = [
      operation({ kind: 'deposit', status: 202, accountNo: 'A', amount: 1_000, ref: 'd1' }),
      operation({
        kind: 'withdrawal',
        status: 409,
        code: 'INSUFFICIENT_BALANCE',
        accountNo: 'A',
        amount: 50,
      }),
    ];
    const bank = state({
      A: {
        balance: 950,
        lines: [line('WITHDRAWAL', 50, 'w-ghost', 950), line('DEPOSIT', 1_000, 'd1', 1_000)],
      },
    });
    const withdrawals = checkWithdrawals(operations, bank);
    assert.equal(withdrawals.ok, false);
    assert.match(withdrawals.findings.join('\n'), /w-ghost on A was never answered with success/);
    const money = checkMoney(operations, bank);
    assert.equal(money.ok, false);
    assert.match(money.findings[0]!, /balance ₩950, the client's record says ₩1000/);
  });

  it('when a payment both took the cash and refunded its points, then points-conserved says so', () => {
    const operations = [
      operation({ kind: 'point-charge', status: 200, amount: 1_000 }),
      operation({
        kind: 'payment',
        status: 202,
        accountNo: 'A',
        cashAmount: 100,
        pointAmount: 50,
        ref: 'p1',
        settled: { status: 'FAILED', readAt: 2 },
      }),
    ];
    const bank = state({ A: { balance: 0, lines: [line('PAYMENT', 100, 'p1', 0)] } });
    bank.wallets.set(0, {
      balance: 1_000,
      lines: [
        { type: 'REFUND', amount: 50, paymentId: 'p1' },
        { type: 'USE', amount: 50, paymentId: 'p1' },
        { type: 'CHARGE', amount: 1_000 },
      ],
    });
    const points = checkPoints(operations, bank);
    assert.equal(points.ok, false);
    assert.ok(points.findings.some((finding) => /both debited cash and refunded/.test(finding)));
  });

  it('when channel-only routes answer 5xx during a partition, then availability counts them against the 99 %', () => {
    const partition: FaultEvent = {
      id: 1,
      kind: 'partition',
      plannedAtS: 0,
      holdS: 10,
      startedAt: 1_000,
      healedAt: 11_000,
      detail: '',
    };
    const attempt = (at: number, route: string, status: number | 'network'): Attempt => ({
      at,
      route,
      status,
      code: undefined,
      contentType: '',
      ms: 5,
    });
    const attempts = [
      ...Array.from({ length: 98 }, (_, index) => attempt(2_000 + index, 'POST /api/v1/points/charge', 200)),
      attempt(5_000, 'POST /api/v1/auth/login', 503),
      attempt(5_001, 'POST /api/v1/accounts/:accountNo/deposits', 'network'),
      // A core route's 503 is expected, and outside the window nothing counts.
      attempt(6_000, 'POST /api/v1/accounts/:accountNo/withdrawals', 503),
      attempt(20_000, 'POST /api/v1/auth/login', 503),
    ];
    const { invariant, windows } = checkAvailability(attempts, [partition], 0.99);
    assert.deepEqual(windows, [{ fault: 1, kind: 'partition', attempts: 100, good: 98, ratio: 0.98 }]);
    assert.equal(invariant.ok, false);
  });

  it('when a 5xx carries a stack, a driver error or no code, then it is named as breaking problem+json', () => {
    const answer = (text: string, contentType = 'application/problem+json; charset=utf-8') => ({
      status: 503,
      headers: new Headers({ 'content-type': contentType }),
      text,
    });
    const good = JSON.stringify({
      type: 't',
      title: 'Service Unavailable',
      status: 503,
      code: 'CORE_UNAVAILABLE',
      detail: 'Retry',
      traceId: 'x',
    });
    assert.equal(serverErrorProblem(answer(good)), undefined);
    assert.match(serverErrorProblem(answer(good, 'text/html'))!, /content-type/);
    assert.match(serverErrorProblem(answer(JSON.stringify({ status: 503 })))!, /no code/);
    const leaky = JSON.stringify({ status: 503, code: 'X', detail: 'connect ECONNREFUSED 127.0.0.1:5432' });
    assert.match(serverErrorProblem(answer(leaky))!, /internals/);
  });
});
