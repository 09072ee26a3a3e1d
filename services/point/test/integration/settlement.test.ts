import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, messageKey, validateEvent } from '@nuri/contracts/events';
import { uuidv7 } from '@nuri/platform/ids';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import { createWalletStore } from '../../src/db/wallets-repository.ts';
import {
  brokers,
  charge,
  fakeAccountNo,
  gatewayToken,
  historyOf,
  internalToken,
  metricValue,
  newUser,
  opsToken,
  outboxRows,
  paymentRow,
  pointBalance,
  readTopic,
  startPoint,
  type TestPoint,
  type TestUser,
  waitUntil,
} from './helpers.ts';

// The core is played by this test: it sends payment.settled straight onto the
// topic, in whatever order and as often as a real broker might deliver it.
describe('composite payments: settlement from Kafka and timeouts', { timeout: 120_000 }, () => {
  let point: TestPoint;
  let core: EventProducer;
  before(async () => {
    point = await startPoint('settlement', {
      retryPolicy: { timeoutMs: 1_000, attemptsMax: 3, backoffFactor: 2, backoffMaxMs: 10_000 },
    });
    await point.startEvents({ relay: false });
    core = createEventProducer({ brokers, clientId: 'point-test-core' });
  });
  after(async () => {
    await core?.close();
    await point?.close();
  });

  async function startPayment(
    points: number,
    cash: number,
  ): Promise<{ user: TestUser; paymentId: string; accountNo: string }> {
    const user = await newUser();
    const accountNo = fakeAccountNo();
    point.stub.link(accountNo, user.userUuid);
    if (points > 0) await charge(point, user, points * 2);
    const response = await point.app.inject({
      method: 'POST',
      url: '/api/v1/payments',
      headers: user.headers,
      payload: { accountNo, cashAmount: cash, pointAmount: points },
    });
    assert.equal(response.statusCode, 202, response.body);
    return { user, paymentId: response.json().paymentId, accountNo };
  }

  function settled(
    payment: { user: TestUser; paymentId: string; accountNo: string },
    outcome: 'SUCCEEDED' | 'FAILED',
  ): EventOf<'payment.settled'> {
    return createEvent(
      'payment.settled',
      {
        paymentId: payment.paymentId,
        userUuid: payment.user.userUuid,
        accountNo: payment.accountNo,
        settledAt: new Date().toISOString(),
        ...(outcome === 'SUCCEEDED'
          ? { status: 'SUCCEEDED' as const, balanceAfter: 1_000 }
          : { status: 'FAILED' as const, failureCode: 'INSUFFICIENT_BALANCE' }),
      },
      { source: 'core-payment', correlationId: payment.paymentId },
    );
  }

  async function send(events: EventOf<'payment.settled'>[]) {
    await core.sendEvents(
      events.map((event) => ({ topic: point.topics.paymentSettled, key: messageKey(event), event })),
    );
  }

  async function statusOf(paymentId: string) {
    return (await paymentRow(point, paymentId))?.status;
  }

  it('when SUCCEEDED arrives three times (one a redelivery of the same event), then the payment COMPLETES once and no points move', async () => {
    const payment = await startPayment(1_000, 5_000);
    const first = settled(payment, 'SUCCEEDED');
    await send([first, first, settled(payment, 'SUCCEEDED')]);
    await waitUntil('COMPLETED', async () => (await statusOf(payment.paymentId)) === 'COMPLETED', 20_000);
    const row = await paymentRow(point, payment.paymentId);
    assert.ok(row?.settled_at);
    assert.equal(row?.failure_code, null);
    assert.equal(await pointBalance(point, payment.user.userUuid), 1_000n);
    assert.deepEqual(
      (await historyOf(point, payment.user.userUuid)).map((entry) => entry.type),
      ['CHARGE', 'USE'],
    );
  });

  it('when FAILED arrives several times, also redelivered after it was applied, then the points are refunded exactly once with one REFUND row and the failure code', async () => {
    const payment = await startPayment(1_000, 5_000);
    const first = settled(payment, 'FAILED');
    await send([first, settled(payment, 'FAILED'), settled(payment, 'FAILED')]);
    await waitUntil('FAILED', async () => (await statusOf(payment.paymentId)) === 'FAILED', 20_000);
    // The same event again, as after a crash before the offset commit: no inbox row remembers
    // it, the payment's terminal state ignores it. A cash-only payment of the same user settled
    // behind it (same key, same partition) says when it has been handled.
    const marker = await point.app.inject({
      method: 'POST',
      url: '/api/v1/payments',
      headers: payment.user.headers,
      payload: { accountNo: payment.accountNo, cashAmount: 10, pointAmount: 0 },
    });
    assert.equal(marker.statusCode, 202, marker.body);
    const markerPayment = { ...payment, paymentId: marker.json().paymentId as string };
    await send([first, settled(markerPayment, 'SUCCEEDED')]);
    await waitUntil(
      'the marker COMPLETED',
      async () => (await statusOf(markerPayment.paymentId)) === 'COMPLETED',
      20_000,
    );
    const read = await point.app.inject({
      method: 'GET',
      url: `/api/v1/payments/${payment.paymentId}`,
      headers: payment.user.headers,
    });
    assert.equal(read.json().status, 'FAILED');
    assert.equal(read.json().failureCode, 'INSUFFICIENT_BALANCE');
    assert.ok(read.json().settledAt);
    assert.equal(await pointBalance(point, payment.user.userUuid), 2_000n);
    const history = await historyOf(point, payment.user.userUuid);
    assert.deepEqual(
      history.map((entry) => [entry.type, entry.amount, entry.balance_after]),
      [
        ['CHARGE', '2000', '2000'],
        ['USE', '1000', '1000'],
        ['REFUND', '1000', '2000'],
      ],
    );
  });

  it('when a wallet is charged to its cap while a payment holds some of its points, then a charge that would leave no room for their refund is refused, and the refund still fits when the cash fails', async () => {
    const payment = await startPayment(1_000, 5_000);
    // The store, not the route: a route charge adds at most 1,000,000 points, far below the cap.
    const wallets = createWalletStore(point.database.db);
    const cap = 10n ** 15n;
    // 1,000 in the wallet and 1,000 held by the payment: the wallet may grow to the cap less those.
    assert.equal(await wallets.charge(payment.user.userUuid, cap - 2_000n, uuidv7()), cap - 1_000n);
    assert.equal(
      await wallets.charge(payment.user.userUuid, 1n, uuidv7()),
      undefined,
      'one more point would leave no room for the held 1,000',
    );
    await send([settled(payment, 'FAILED')]);
    await waitUntil('FAILED', async () => (await statusOf(payment.paymentId)) === 'FAILED', 20_000);
    assert.equal(
      await pointBalance(point, payment.user.userUuid),
      cap,
      'the refund fits, to the cap exactly',
    );
    assert.deepEqual(
      (await historyOf(point, payment.user.userUuid)).map((entry) => entry.type),
      ['CHARGE', 'USE', 'CHARGE', 'REFUND'],
    );
    assert.equal(await wallets.charge(payment.user.userUuid, 1n, uuidv7()), undefined, 'the wallet is full');
  });

  it('when a payment that held points completes, then its hold is released: the wallet may be charged up to the cap', async () => {
    const payment = await startPayment(1_000, 5_000);
    // The store, not the route: a route charge adds at most 1,000,000 points, far below the cap.
    const wallets = createWalletStore(point.database.db);
    const cap = 10n ** 15n;
    assert.equal(await wallets.charge(payment.user.userUuid, cap - 2_000n, uuidv7()), cap - 1_000n);
    assert.equal(await wallets.charge(payment.user.userUuid, 1_000n, uuidv7()), undefined, 'held: no room');
    await send([settled(payment, 'SUCCEEDED')]);
    await waitUntil('COMPLETED', async () => (await statusOf(payment.paymentId)) === 'COMPLETED', 20_000);
    assert.equal(
      await wallets.charge(payment.user.userUuid, 1_000n, uuidv7()),
      cap,
      'released: the room is back',
    );
  });

  it("when one user's payments fail together, then each gets one REFUND row and the rows' balances follow one another to the wallet's", async () => {
    const user = await newUser();
    const accountNo = fakeAccountNo();
    point.stub.link(accountNo, user.userUuid);
    await charge(point, user, 1_000);
    const payments: Array<{ user: TestUser; paymentId: string; accountNo: string }> = [];
    for (const points of [100, 200, 300]) {
      const response = await point.app.inject({
        method: 'POST',
        url: '/api/v1/payments',
        headers: user.headers,
        payload: { accountNo, cashAmount: 5_000, pointAmount: points },
      });
      assert.equal(response.statusCode, 202, response.body);
      payments.push({ user, paymentId: response.json().paymentId as string, accountNo });
    }
    // One key (the user), one partition: the three outcomes arrive together.
    await send(payments.map((payment) => settled(payment, 'FAILED')));
    await waitUntil(
      'all FAILED',
      async () =>
        (await Promise.all(payments.map((payment) => statusOf(payment.paymentId)))).every(
          (status) => status === 'FAILED',
        ),
      20_000,
    );
    assert.equal(await pointBalance(point, user.userUuid), 1_000n);
    const history = await historyOf(point, user.userUuid);
    const refunds = history.filter((entry) => entry.type === 'REFUND');
    assert.deepEqual(
      refunds.map((entry) => entry.payment_id).sort(),
      payments.map((payment) => payment.paymentId).sort(),
    );
    let balance = 0n;
    for (const entry of history) {
      balance += entry.type === 'USE' ? -BigInt(entry.amount) : BigInt(entry.amount);
      assert.equal(BigInt(entry.balance_after), balance, `${entry.type} of ${entry.payment_id}`);
    }
  });

  it('when outcomes arrive out of order for several payments (and a conflicting late one), then each applies its first outcome only', async () => {
    const a = await startPayment(100, 1_000);
    const b = await startPayment(100, 1_000);
    const c = await startPayment(0, 1_000);
    await send([
      settled(b, 'FAILED'),
      settled(a, 'SUCCEEDED'),
      settled(c, 'FAILED'),
      settled(a, 'FAILED'),
      settled(b, 'SUCCEEDED'),
    ]);
    await waitUntil(
      'all settled',
      async () => {
        const statuses = await Promise.all([a, b, c].map((payment) => statusOf(payment.paymentId)));
        return statuses.every((status) => status !== 'PENDING');
      },
      20_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await statusOf(a.paymentId), 'COMPLETED');
    assert.equal(await statusOf(b.paymentId), 'FAILED');
    assert.equal(await statusOf(c.paymentId), 'FAILED');
    assert.equal(await pointBalance(point, a.user.userUuid), 100n);
    assert.equal(await pointBalance(point, b.user.userUuid), 200n);
    assert.equal((await historyOf(point, c.user.userUuid)).length, 0, 'a cash-only failure refunds nothing');
  });

  it('when an outcome names a payment point never made, then it goes to the DLQ and the rest of the batch still applies', async () => {
    const known = await startPayment(100, 1_000);
    const stranger = { user: await newUser(), paymentId: uuidv7(), accountNo: fakeAccountNo() };
    await send([settled(stranger, 'SUCCEEDED'), settled(known, 'SUCCEEDED')]);
    await waitUntil('known COMPLETED', async () => (await statusOf(known.paymentId)) === 'COMPLETED', 30_000);
    const dead = await readTopic(`${point.topics.paymentSettled}.dlq`, 1, 30_000);
    assert.equal(dead.length, 1);
    assert.equal(
      validateEvent('payment.settled', JSON.parse(dead[0]!.value)).data.paymentId,
      stranger.paymentId,
    );
  });

  it('when the core stays silent, then the request is re-sent with backoff (new event id, attempt+1), never compensated, reported stuck after the last attempt, and a late answer still settles it', async () => {
    const payment = await startPayment(1_000, 5_000);
    const job = point.timeouts();
    const createdAt = (await paymentRow(point, payment.paymentId))!.created_at.getTime();
    // Deadlines: attempt 1 + 1 s, attempt 2 + 2 s, attempt 3 + 4 s.
    assert.deepEqual(await job.runOnce(new Date(createdAt + 900)), { resent: 0, stuck: 0 });
    assert.deepEqual(await job.runOnce(new Date(createdAt + 1_000)), { resent: 1, stuck: 0 });
    assert.deepEqual(
      await job.runOnce(new Date(createdAt + 2_500)),
      { resent: 0, stuck: 0 },
      'backoff: attempt 2 waits 2 s',
    );
    assert.deepEqual(await job.runOnce(new Date(createdAt + 3_000)), { resent: 1, stuck: 0 });
    assert.deepEqual(await job.runOnce(new Date(createdAt + 7_000)), { resent: 0, stuck: 1 });
    assert.deepEqual(
      await job.runOnce(new Date(createdAt + 60_000)),
      { resent: 0, stuck: 0 },
      'reported once',
    );

    const requests = (await outboxRows(point))
      .map((row) => validateEvent('payment.requested', JSON.parse(row.payload)))
      .filter((event) => event.data.paymentId === payment.paymentId);
    assert.deepEqual(
      requests.map((event) => event.data.attempt),
      [1, 2, 3],
    );
    assert.equal(new Set(requests.map((event) => event.id)).size, 3, 'each attempt is a new event');
    const row = await paymentRow(point, payment.paymentId);
    assert.deepEqual([row?.status, row?.attempts, row?.stuck_at !== null], ['PENDING', 3, true]);
    assert.equal(
      await pointBalance(point, payment.user.userUuid),
      1_000n,
      'no refund while the cash outcome is unknown',
    );
    assert.equal(await metricValue(point, 'nuri_point_payments_stuck_total'), 1);

    const report = await point.app.inject({
      method: 'GET',
      url: '/internal/v1/reconciliation',
      headers: { authorization: `Bearer ${opsToken}` },
    });
    assert.equal(report.statusCode, 200);
    const body = report.json();
    assert.equal(body.ok, false);
    assert.deepEqual(
      body.stuckPayments
        .filter((stuck: { paymentId: string }) => stuck.paymentId === payment.paymentId)
        .map((stuck: { attempts: number }) => stuck.attempts),
      [3],
    );
    assert.deepEqual(body.walletMismatches, []);
    assert.deepEqual(body.paymentMismatches, []);

    await send([settled(payment, 'SUCCEEDED')]);
    await waitUntil('COMPLETED', async () => (await statusOf(payment.paymentId)) === 'COMPLETED', 20_000);
    assert.equal(await pointBalance(point, payment.user.userUuid), 1_000n);
  });

  it('when an operator retries a stuck payment, then one more cash request goes out, it leaves the stuck list, and the answer settles it; anything else is refused', async () => {
    const payment = await startPayment(1_000, 5_000);
    const job = point.timeouts();
    const createdAt = (await paymentRow(point, payment.paymentId))!.created_at.getTime();
    await job.runOnce(new Date(createdAt + 1_000));
    await job.runOnce(new Date(createdAt + 3_000));
    assert.deepEqual(await job.runOnce(new Date(createdAt + 7_000)), { resent: 0, stuck: 1 });
    const retry = (paymentId: string, token = opsToken) =>
      point.app.inject({
        method: 'POST',
        url: `/internal/v1/payments/${paymentId}/retry`,
        headers: { authorization: `Bearer ${token}` },
      });
    const retried = await retry(payment.paymentId);
    assert.equal(retried.statusCode, 200, retried.body);
    assert.deepEqual(retried.json(), { paymentId: payment.paymentId, retried: true });
    const row = await paymentRow(point, payment.paymentId);
    assert.deepEqual([row?.status, row?.attempts, row?.stuck_at], ['PENDING', 4, null]);
    const requests = (await outboxRows(point))
      .map((outbox) => validateEvent('payment.requested', JSON.parse(outbox.payload)))
      .filter((event) => event.data.paymentId === payment.paymentId);
    assert.deepEqual(
      requests.map((event) => event.data.attempt),
      [1, 2, 3, 4],
    );
    const report = (
      await point.app.inject({
        method: 'GET',
        url: '/internal/v1/reconciliation',
        headers: { authorization: `Bearer ${opsToken}` },
      })
    ).json();
    assert.ok(
      !report.stuckPayments.some((stuck: { paymentId: string }) => stuck.paymentId === payment.paymentId),
    );
    const again = await retry(payment.paymentId);
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'PAYMENT_NOT_STUCK');
    assert.equal((await retry('01890a5d-ac96-774b-bcce-b302099a8057')).statusCode, 404);
    assert.equal((await retry(payment.paymentId, 'not-the-token')).statusCode, 401);
    // point's own token proves point, which may not retry payments (only the operator may).
    const byService = await retry(payment.paymentId, internalToken);
    assert.deepEqual([byService.statusCode, byService.json().code], [401, 'UNAUTHENTICATED']);
    await send([settled(payment, 'FAILED')]);
    await waitUntil('FAILED', async () => (await statusOf(payment.paymentId)) === 'FAILED', 20_000);
    assert.equal(await pointBalance(point, payment.user.userUuid), 2_000n, 'refunded once the core said no');
  });

  it('when a payment is stuck, then the gateway reads it with its amounts beside the counts by status, and may not retry it', async () => {
    const payment = await startPayment(700, 4_300);
    const job = point.timeouts();
    const createdAt = (await paymentRow(point, payment.paymentId))!.created_at.getTime();
    await job.runOnce(new Date(createdAt + 1_000));
    await job.runOnce(new Date(createdAt + 3_000));
    assert.deepEqual(await job.runOnce(new Date(createdAt + 7_000)), { resent: 0, stuck: 1 });
    const asGateway = (method: 'GET' | 'POST', url: string) =>
      point.app.inject({ method, url, headers: { authorization: `Bearer ${gatewayToken}` } });
    const overview = await asGateway('GET', '/internal/v1/ops/payments');
    assert.equal(overview.statusCode, 200, overview.body);
    const { byStatus, stuck } = overview.json();
    assert.ok(
      byStatus.PENDING >= 1 && Number.isInteger(byStatus.COMPLETED) && Number.isInteger(byStatus.FAILED),
    );
    const listed = stuck.find((entry: { paymentId: string }) => entry.paymentId === payment.paymentId);
    assert.deepEqual(listed, {
      paymentId: payment.paymentId,
      status: 'PENDING',
      cashAmount: 4_300,
      pointAmount: 700,
      createdAt: new Date(createdAt).toISOString(),
    });
    const outbox = await asGateway('GET', '/internal/v1/ops/outbox');
    assert.equal(outbox.statusCode, 200, outbox.body);
    assert.ok(outbox.json().pending >= 0);
    const retry = await asGateway('POST', `/internal/v1/payments/${payment.paymentId}/retry`);
    assert.deepEqual(
      [retry.statusCode, retry.json().code],
      [403, 'FORBIDDEN'],
      'reports only, never an action',
    );
    await send([settled(payment, 'SUCCEEDED')]);
    await waitUntil('COMPLETED', async () => (await statusOf(payment.paymentId)) === 'COMPLETED', 20_000);
  });

  it('when reconciliation is asked without the internal token, then 401', async () => {
    const response = await point.app.inject({ method: 'GET', url: '/internal/v1/reconciliation' });
    assert.equal(response.statusCode, 401);
    const user = await newUser();
    const withUserToken = await point.app.inject({
      method: 'GET',
      url: '/internal/v1/reconciliation',
      headers: user.headers,
    });
    assert.equal(withUserToken.statusCode, 401);
    // An internal path that matches no route needs the token too, so routes do not leak.
    const unknown = await point.app.inject({ method: 'GET', url: '/internal/v1/nothing-here' });
    assert.deepEqual([unknown.statusCode, unknown.json().code], [401, 'UNAUTHENTICATED']);
    const unknownWithToken = await point.app.inject({
      method: 'GET',
      url: '/internal/v1/nothing-here',
      headers: { authorization: `Bearer ${opsToken}` },
    });
    assert.equal(unknownWithToken.statusCode, 404);
  });
});
