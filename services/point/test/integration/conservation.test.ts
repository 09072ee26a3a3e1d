import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { startCore, type TestCore } from './core-harness.ts';
import { charge, newUser, opsToken, startPoint, type TestPoint, waitUntil } from './helpers.ts';

const usersTotal = 100;
const paymentsPerUser = 10;
const cashPerAccount = 100_000n;
const pointsPerUser = 10_000;

// Per user: 7 payments whose cash always fits (Σ ≤ ₩35,000 of ₩100,000) and 3
// that can never be covered (₩200,000 each): a third fails for lack of cash
// whatever order the core sees them in, so the expected outcome is exact.
function plan(userIndex: number, paymentIndex: number) {
  const failing = paymentIndex >= 7;
  return {
    cashAmount: failing ? 200_000 : 1_000 + ((userIndex * 7 + paymentIndex * 13) % 5) * 1_000,
    pointAmount: 100 + ((userIndex + paymentIndex) % 5) * 100,
    failing,
  };
}

describe('conservation under load with the real core', { timeout: 300_000 }, () => {
  let core: TestCore;
  let point: TestPoint;
  before(async () => {
    core = await startCore('conservation', 20);
    point = await startPoint('conservation', {
      topics: core.pointTopics,
      poolSizeMax: 20,
      cacheTtlMs: 30_000,
    });
    await core.start();
    await point.startEvents();
  });
  after(async () => {
    await point?.close();
    await core?.close();
  });

  it('when 1,000 mixed payments run concurrently (a third short of cash), then all settle, points = charged − used + refunded, and both ledgers agree with the COMPLETED payments', async () => {
    const customers = [];
    for (let index = 0; index < usersTotal; index += 1) {
      const user = await newUser();
      const accountNo = await core.openFundedAccount(user.userUuid, cashPerAccount);
      point.stub.link(accountNo, user.userUuid);
      await charge(point, user, pointsPerUser);
      customers.push({ ...user, accountNo });
    }

    const requests = customers.flatMap((user, userIndex) =>
      Array.from({ length: paymentsPerUser }, (_, paymentIndex) => ({
        user,
        ...plan(userIndex, paymentIndex),
      })),
    );
    const responses = await Promise.all(
      requests.map((request) =>
        point.app.inject({
          method: 'POST',
          url: '/api/v1/payments',
          headers: request.user.headers,
          payload: {
            accountNo: request.user.accountNo,
            cashAmount: request.cashAmount,
            pointAmount: request.pointAmount,
          },
        }),
      ),
    );
    for (const response of responses) assert.equal(response.statusCode, 202, response.body);
    const paymentIds = responses.map((response) => response.json<{ paymentId: string }>().paymentId);

    await waitUntil(
      'every payment terminal',
      async () => {
        const row = await point.database.db
          .selectFrom('payments')
          .select((eb) => eb.fn.countAll<string>().as('pending'))
          .where('status', '=', 'PENDING')
          .executeTakeFirstOrThrow();
        return Number(row.pending) === 0;
      },
      120_000,
    );
    await sleep(500);

    const rows = await point.database.db.selectFrom('payments').selectAll().execute();
    const byId = new Map(rows.map((row) => [row.payment_id, row]));
    let completed = 0;
    for (const [index, paymentId] of paymentIds.entries()) {
      const request = requests[index]!;
      const row = byId.get(paymentId);
      assert.equal(row?.status, request.failing ? 'FAILED' : 'COMPLETED', paymentId);
      if (request.failing) assert.equal(row?.failure_code, 'INSUFFICIENT_BALANCE');
      else completed += 1;
    }
    assert.equal(completed, usersTotal * 7);

    // Points: per user, balance = charged − Σ used + Σ refunded, and used − refunded = Σ points of COMPLETED.
    const sums = await sql<{
      user_uuid: string;
      balance: string;
      charged: string;
      used: string;
      refunded: string;
    }>`
      select w.user_uuid, w.balance,
        sum(case when h.type = 'CHARGE' then h.amount else 0 end) as charged,
        sum(case when h.type = 'USE' then h.amount else 0 end) as used,
        sum(case when h.type = 'REFUND' then h.amount else 0 end) as refunded
      from point_wallets w join point_history h on h.user_uuid = w.user_uuid
      group by w.user_uuid, w.balance`.execute(point.database.db);
    assert.equal(sums.rows.length, usersTotal);
    for (const [userIndex, user] of customers.entries()) {
      const sum = sums.rows.find((row) => row.user_uuid === user.userUuid)!;
      assert.equal(BigInt(sum.balance), BigInt(sum.charged) - BigInt(sum.used) + BigInt(sum.refunded));
      const completedPoints = Array.from({ length: paymentsPerUser }, (_, paymentIndex) =>
        plan(userIndex, paymentIndex),
      )
        .filter((payment) => !payment.failing)
        .reduce((total, payment) => total + BigInt(payment.pointAmount), 0n);
      assert.equal(BigInt(sum.used) - BigInt(sum.refunded), completedPoints);
      assert.equal(BigInt(sum.balance), BigInt(pointsPerUser) - completedPoints);

      // Cash: the core debited exactly the COMPLETED payments, each once.
      const completedCash = Array.from({ length: paymentsPerUser }, (_, paymentIndex) =>
        plan(userIndex, paymentIndex),
      )
        .filter((payment) => !payment.failing)
        .reduce((total, payment) => total + BigInt(payment.cashAmount), 0n);
      assert.equal(await core.cashBalance(user.accountNo), cashPerAccount - completedCash);
    }
    const debits = await core.database.db
      .selectFrom('ledger_transactions')
      .select(['reference'])
      .where('type', '=', 'PAYMENT')
      .execute();
    const completedIds = new Set(
      rows.filter((row) => row.status === 'COMPLETED').map((row) => row.payment_id),
    );
    assert.equal(debits.length, completedIds.size);
    assert.ok(debits.every((debit) => completedIds.has(debit.reference)));

    const report = await point.app.inject({
      method: 'GET',
      url: '/internal/v1/reconciliation',
      headers: { authorization: `Bearer ${opsToken}` },
    });
    assert.equal(report.json().ok, true, report.body);
  });
});
