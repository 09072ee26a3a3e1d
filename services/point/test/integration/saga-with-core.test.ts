import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCore, type TestCore } from './core-harness.ts';
import {
  charge,
  historyOf,
  metricValue,
  newUser,
  opsToken,
  outboxRows,
  paymentRow,
  pointBalance,
  startPoint,
  type TestPoint,
  type TestUser,
  waitUntil,
} from './helpers.ts';

// The whole saga: point (MariaDB, outbox, consumer) ⇄ Kafka ⇄ the real
// core-payment (PostgreSQL, ledger, its own inbox and outbox).

async function customer(point: TestPoint, core: TestCore, cash: bigint, points: number) {
  const user = await newUser();
  const accountNo = await core.openFundedAccount(user.userUuid, cash);
  point.stub.link(accountNo, user.userUuid);
  if (points > 0) await charge(point, user, points);
  return { ...user, accountNo };
}

function pay(
  point: TestPoint,
  user: TestUser & { accountNo: string },
  cashAmount: number,
  pointAmount: number,
) {
  return point.app.inject({
    method: 'POST',
    url: '/api/v1/payments',
    headers: user.headers,
    payload: { accountNo: user.accountNo, cashAmount, pointAmount },
  });
}

async function settledPayment(point: TestPoint, user: TestUser, paymentId: string, timeoutMs = 20_000) {
  let body: { status: string; failureCode?: string; settledAt?: string } = { status: 'PENDING' };
  await waitUntil(
    `payment ${paymentId} settled`,
    async () => {
      const response = await point.app.inject({
        method: 'GET',
        url: `/api/v1/payments/${paymentId}`,
        headers: user.headers,
      });
      body = response.json();
      return body.status !== 'PENDING';
    },
    timeoutMs,
  );
  return body;
}

async function reconciliation(point: TestPoint) {
  const response = await point.app.inject({
    method: 'GET',
    url: '/internal/v1/reconciliation',
    headers: { authorization: `Bearer ${opsToken}` },
  });
  assert.equal(response.statusCode, 200);
  return response.json();
}

describe('saga with the real core: the seed scenario', { timeout: 120_000 }, () => {
  let core: TestCore;
  let point: TestPoint;
  before(async () => {
    core = await startCore('seed');
    point = await startPoint('seed', { topics: core.pointTopics });
    await core.start();
    await point.startEvents();
  });
  after(async () => {
    await point?.close();
    await core?.close();
  });

  it('when a customer with ₩10,000 and 3,000 P pays three times, then COMPLETED, 409 INSUFFICIENT_POINTS, and FAILED with the points refunded', async () => {
    const user = await customer(point, core, 10_000n, 3_000);

    const first = await pay(point, user, 5_000, 1_000);
    assert.equal(first.statusCode, 202);
    const firstId = first.json().paymentId;
    const firstSettled = await settledPayment(point, user, firstId);
    assert.equal(firstSettled.status, 'COMPLETED');
    assert.ok(firstSettled.settledAt);
    assert.equal(await core.cashBalance(user.accountNo), 5_000n);
    assert.equal(await pointBalance(point, user.userUuid), 2_000n);

    const second = await pay(point, user, 1_000, 3_000);
    assert.equal(second.statusCode, 409);
    assert.equal(second.json().code, 'INSUFFICIENT_POINTS');

    const third = await pay(point, user, 10_000, 500);
    assert.equal(third.statusCode, 202);
    const thirdId = third.json().paymentId;
    const thirdSettled = await settledPayment(point, user, thirdId);
    assert.equal(thirdSettled.status, 'FAILED');
    assert.equal(thirdSettled.failureCode, 'INSUFFICIENT_BALANCE');
    assert.equal(await core.cashBalance(user.accountNo), 5_000n);
    assert.equal(await pointBalance(point, user.userUuid), 2_000n);

    const history = await point.app.inject({
      method: 'GET',
      url: '/api/v1/points/history',
      headers: user.headers,
    });
    assert.deepEqual(
      history
        .json()
        .items.map((item: { type: string; amount: number; balanceAfter: number; paymentId?: string }) => [
          item.type,
          item.amount,
          item.balanceAfter,
          item.paymentId ?? null,
        ]),
      [
        ['REFUND', 500, 2_000, thirdId],
        ['USE', 500, 1_500, thirdId],
        ['USE', 1_000, 2_000, firstId],
        ['CHARGE', 3_000, 3_000, null],
      ],
    );
    assert.equal(await core.paymentDebits(firstId), 1);
    assert.equal(await core.paymentDebits(thirdId), 0);
    const report = await reconciliation(point);
    assert.equal(report.ok, true, JSON.stringify(report));
  });
});

describe('saga with the real core: point crashes between the deduction and the publish', {
  timeout: 120_000,
}, () => {
  let core: TestCore;
  let point: TestPoint;
  before(async () => {
    core = await startCore('crash');
    point = await startPoint('crash', { topics: core.pointTopics });
    await core.start();
  });
  after(async () => {
    await point?.close();
    await core?.close();
  });

  it('when the process dies before its relay published, then the outbox row survives and the next process’s relay completes the saga exactly once', async () => {
    // The first "process": it accepted the payment but its relay never ran.
    await point.startEvents({ relay: false });
    const user = await customer(point, core, 10_000n, 1_000);
    const response = await pay(point, user, 4_000, 1_000);
    assert.equal(response.statusCode, 202);
    const { paymentId } = response.json();
    await sleep(500);
    const pending = (await outboxRows(point)).filter((row) => row.payload.includes(paymentId));
    assert.equal(pending.length, 1);
    assert.equal(pending[0]?.published_at, null);
    assert.equal((await paymentRow(point, paymentId))?.status, 'PENDING');
    assert.equal(await core.cashBalance(user.accountNo), 10_000n, 'the core has heard nothing');

    // The restarted process: a new relay finds the row and publishes it.
    await point.startEvents({ consumer: false });
    const settled = await settledPayment(point, user, paymentId);
    assert.equal(settled.status, 'COMPLETED');
    // Sent, so deleted from the outbox.
    const left = (await outboxRows(point)).filter((row) => row.payload.includes(paymentId));
    assert.deepEqual(left, []);
    assert.equal(await core.cashBalance(user.accountNo), 6_000n);
    assert.equal(await core.paymentDebits(paymentId), 1);
    assert.equal(await pointBalance(point, user.userUuid), 0n);
  });
});

describe('saga with the real core: the core is down during payments', { timeout: 120_000 }, () => {
  let core: TestCore;
  let point: TestPoint;
  before(async () => {
    core = await startCore('outage');
    point = await startPoint('outage', {
      topics: core.pointTopics,
      retryPolicy: { timeoutMs: 600, attemptsMax: 20, backoffFactor: 1, backoffMaxMs: 600 },
    });
    await core.start();
    await point.startEvents();
    point.timeouts().start();
  });
  after(async () => {
    await point?.close();
    await core?.close();
  });

  it('when the core is stopped, then payments stay PENDING and are re-sent; when it is back, each settles once — no double debit, no double refund', async () => {
    const user = await customer(point, core, 10_000n, 3_000);
    await core.stop();
    const ok = await pay(point, user, 6_000, 1_000);
    const short = await pay(point, user, 9_000, 500);
    assert.equal(ok.statusCode, 202);
    assert.equal(short.statusCode, 202);
    const okId = ok.json().paymentId;
    const shortId = short.json().paymentId;

    await waitUntil(
      'both re-sent at least twice',
      async () =>
        ((await paymentRow(point, okId))?.attempts ?? 0) >= 3 &&
        ((await paymentRow(point, shortId))?.attempts ?? 0) >= 3,
      15_000,
    );
    assert.equal((await paymentRow(point, okId))?.status, 'PENDING');
    assert.equal((await paymentRow(point, shortId))?.status, 'PENDING');
    assert.equal(
      await pointBalance(point, user.userUuid),
      1_500n,
      'nothing refunded while the cash outcome is unknown',
    );
    assert.ok(
      (await metricValue(point, 'nuri_point_payment_requests_resent_total')) >= 4,
      'the alert counter moved',
    );

    await core.start();
    const okSettled = await settledPayment(point, user, okId, 30_000);
    const shortSettled = await settledPayment(point, user, shortId, 30_000);
    // Every re-sent request gets its (repeated) answer; let them all arrive.
    await sleep(2_000);

    assert.equal(okSettled.status, 'COMPLETED');
    assert.equal(shortSettled.status, 'FAILED');
    assert.equal(shortSettled.failureCode, 'INSUFFICIENT_BALANCE');
    assert.equal(await core.paymentDebits(okId), 1);
    assert.equal(await core.paymentDebits(shortId), 0);
    assert.equal(await core.cashBalance(user.accountNo), 4_000n);
    assert.equal(await pointBalance(point, user.userUuid), 2_000n);
    const refunds = (await historyOf(point, user.userUuid)).filter((row) => row.type === 'REFUND');
    assert.deepEqual(
      refunds.map((row) => [row.payment_id, row.amount]),
      [[shortId, '500']],
    );
    const report = await reconciliation(point);
    assert.equal(report.ok, true, JSON.stringify(report));
  });
});
