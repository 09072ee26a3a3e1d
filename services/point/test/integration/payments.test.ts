import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { validateEvent } from '@nuri/contracts/events';
import { uuidv7 } from '@nuri/platform/ids';
import { decide } from '../../src/domain/payment-saga.ts';
import {
  type NewPayment,
  type Payment,
  type PaymentKey,
  type StartPaymentResult,
  startPayment,
} from '../../src/domain/payments.ts';
import {
  charge,
  fakeAccountNo,
  historyOf,
  newUser,
  outboxRows,
  paymentRow,
  pointBalance,
  startPoint,
  type TestPoint,
  type TestUser,
  uniqueName,
} from './helpers.ts';

// Acceptance only: no relay or consumer runs here, so what the saga publishes
// is read from the outbox table, exactly as the relay would find it.
describe('composite payments: acceptance (POST /payments, GET /payments/{id})', { timeout: 60_000 }, () => {
  let point: TestPoint;
  before(async () => {
    point = await startPoint('payments');
  });
  after(async () => {
    await point?.close();
  });

  async function userWithAccount(points = 0): Promise<TestUser & { accountNo: string }> {
    const user = await newUser();
    const accountNo = fakeAccountNo();
    point.stub.link(accountNo, user.userUuid);
    if (points > 0) await charge(point, user, points);
    return { ...user, accountNo };
  }

  function pay(user: TestUser, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
    return point.app.inject({
      method: 'POST',
      url: '/api/v1/payments',
      headers: { ...user.headers, ...headers },
      payload,
    });
  }

  async function outboxFor(paymentId: string) {
    return (await outboxRows(point))
      .map((row) => ({
        topic: row.topic,
        key: row.key,
        event: validateEvent('payment.requested', JSON.parse(row.payload)),
      }))
      .filter((row) => row.event.data.paymentId === paymentId);
  }

  it('when a user pays with cash and points, then 202 PENDING, the points are deducted with a USE row, and payment.requested (attempt 1) waits in the outbox', async () => {
    const user = await userWithAccount(3_000);
    const response = await pay(user, {
      accountNo: user.accountNo,
      cashAmount: 5_000,
      pointAmount: 1_000,
      merchant: 'Cafe Nuri',
      orderId: 'order-1',
    });
    assert.equal(response.statusCode, 202);
    const body = response.json();
    assert.deepEqual(
      { ...body, paymentId: undefined },
      {
        paymentId: undefined,
        orderId: 'order-1',
        status: 'PENDING',
        cashAmount: 5_000,
        pointAmount: 1_000,
      },
    );
    assert.equal(await pointBalance(point, user.userUuid), 2_000n);
    const use = (await historyOf(point, user.userUuid)).find((row) => row.type === 'USE');
    assert.deepEqual([use?.amount, use?.balance_after, use?.payment_id], ['1000', '2000', body.paymentId]);
    const row = await paymentRow(point, body.paymentId);
    assert.deepEqual(
      [row?.status, row?.attempts, row?.merchant, row?.account_no],
      ['PENDING', 1, 'Cafe Nuri', user.accountNo],
    );
    const [request, ...more] = await outboxFor(body.paymentId);
    assert.equal(more.length, 0);
    assert.equal(request?.topic, point.topics.paymentRequested);
    assert.equal(request?.key, user.accountNo);
    assert.deepEqual(request?.event.data, {
      paymentId: body.paymentId,
      userUuid: user.userUuid,
      accountNo: user.accountNo,
      amount: 5_000,
      orderId: 'order-1',
      attempt: 1,
    });

    const read = await point.app.inject({
      method: 'GET',
      url: `/api/v1/payments/${body.paymentId}`,
      headers: user.headers,
    });
    assert.equal(read.statusCode, 200);
    const payment = read.json();
    assert.equal(payment.status, 'PENDING');
    assert.equal(payment.orderId, 'order-1');
    assert.equal('settledAt' in payment, false);
    assert.equal('failureCode' in payment, false);
    assert.ok(!Number.isNaN(Date.parse(payment.createdAt)));
  });

  it('when the points do not cover pointAmount, then 409 INSUFFICIENT_POINTS and nothing else happens: no payment, no history, no event', async () => {
    const user = await userWithAccount(500);
    const outboxBefore = (await outboxRows(point)).length;
    const response = await pay(user, {
      accountNo: user.accountNo,
      cashAmount: 1_000,
      pointAmount: 3_000,
      orderId: 'too-much',
    });
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'INSUFFICIENT_POINTS');
    assert.equal(await pointBalance(point, user.userUuid), 500n);
    assert.deepEqual(
      (await historyOf(point, user.userUuid)).map((row) => row.type),
      ['CHARGE'],
    );
    assert.equal(
      (
        await point.database.db
          .selectFrom('payments')
          .selectAll()
          .where('user_uuid', '=', user.userUuid)
          .execute()
      ).length,
      0,
    );
    assert.equal((await outboxRows(point)).length, outboxBefore);
    const again = await pay(user, {
      accountNo: user.accountNo,
      cashAmount: 1_000,
      pointAmount: 0,
      orderId: 'too-much',
    });
    assert.equal(again.statusCode, 202, 'the refused orderId was never taken');
  });

  it('when a user with no wallet pays with points, then 409 INSUFFICIENT_POINTS', async () => {
    const user = await userWithAccount();
    const response = await pay(user, { accountNo: user.accountNo, cashAmount: 0, pointAmount: 1 });
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'INSUFFICIENT_POINTS');
  });

  it('when the account is unknown or another user’s, then 404 ACCOUNT_NOT_FOUND and no points move', async () => {
    const user = await userWithAccount(1_000);
    const stranger = await userWithAccount();
    for (const accountNo of [fakeAccountNo(), stranger.accountNo]) {
      const response = await pay(user, { accountNo, cashAmount: 100, pointAmount: 100 });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().code, 'ACCOUNT_NOT_FOUND');
    }
    assert.equal(await pointBalance(point, user.userUuid), 1_000n);
  });

  it('when channel-user cannot answer the ownership check, then 503 ACCOUNT_CHECK_UNAVAILABLE and nothing is deducted', async () => {
    const user = await userWithAccount(1_000);
    point.stub.failing = true;
    try {
      const response = await pay(user, { accountNo: user.accountNo, cashAmount: 100, pointAmount: 100 });
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().code, 'ACCOUNT_CHECK_UNAVAILABLE');
    } finally {
      point.stub.failing = false;
    }
    assert.equal(await pointBalance(point, user.userUuid), 1_000n);
  });

  it("when one user's payments on one account come together, then channel-user is asked once and every payment is accepted", async () => {
    const user = await userWithAccount(1_000);
    const callsBefore = point.stub.calls;
    point.stub.delayMs = 300;
    try {
      const responses = await Promise.all(
        Array.from({ length: 5 }, () =>
          pay(user, { accountNo: user.accountNo, cashAmount: 100, pointAmount: 10 }),
        ),
      );
      assert.deepEqual(
        responses.map((response) => response.statusCode),
        [202, 202, 202, 202, 202],
      );
    } finally {
      point.stub.delayMs = 0;
    }
    assert.equal(point.stub.calls - callsBefore, 1);
    assert.equal(await pointBalance(point, user.userUuid), 950n);
  });

  it('when the same orderId is used twice by one user, then 409 DUPLICATE_ORDER and the second deducts nothing; another user may use it', async () => {
    const user = await userWithAccount(1_000);
    const first = await pay(user, {
      accountNo: user.accountNo,
      cashAmount: 100,
      pointAmount: 100,
      orderId: 'same-order',
    });
    assert.equal(first.statusCode, 202);
    const second = await pay(user, {
      accountNo: user.accountNo,
      cashAmount: 100,
      pointAmount: 100,
      orderId: 'same-order',
    });
    assert.equal(second.statusCode, 409);
    assert.equal(second.json().code, 'DUPLICATE_ORDER');
    assert.equal(await pointBalance(point, user.userUuid), 900n);
    const other = await userWithAccount();
    const theirs = await pay(other, {
      accountNo: other.accountNo,
      cashAmount: 100,
      pointAmount: 0,
      orderId: 'same-order',
    });
    assert.equal(theirs.statusCode, 202);
  });

  it('when a payment is retried with the same Idempotency-Key, then the first 202 is replayed and points are deducted once', async () => {
    const user = await userWithAccount(1_000);
    const payload = { accountNo: user.accountNo, cashAmount: 700, pointAmount: 300 };
    const first = await pay(user, payload, { 'idempotency-key': 'pay-1' });
    const replay = await pay(user, payload, { 'idempotency-key': 'pay-1' });
    assert.equal(first.statusCode, 202);
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.deepEqual(replay.json(), first.json());
    assert.equal(first.json().orderId, first.json().paymentId, 'a generated orderId is the payment id');
    assert.equal(await pointBalance(point, user.userUuid), 700n);
    assert.equal((await outboxFor(first.json().paymentId)).length, 1);
    const reused = await pay(user, { ...payload, cashAmount: 701 }, { 'idempotency-key': 'pay-1' });
    assert.equal(reused.statusCode, 422);
    assert.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED');
  });

  it('when a payment that spent every point lost its answer and the retry takes the key over, then the same payment is answered, not INSUFFICIENT_POINTS', async () => {
    const user = await userWithAccount(300);
    const payload = { accountNo: user.accountNo, cashAmount: 700, pointAmount: 300 };
    const first = await pay(user, payload, { 'idempotency-key': 'lost-answer-1' });
    assert.equal(first.statusCode, 202);
    assert.equal(await pointBalance(point, user.userUuid), 0n);
    // As if the process died after the commit and before storing the answer:
    // the claim is left PENDING and its lease runs out, so the retry takes it
    // over and runs the payment again under the same payment id.
    await point.database.db
      .updateTable('idempotency_keys')
      .set({ state: 'PENDING', status_code: null, response_body: null, locked_until: new Date(0) })
      .where('user_uuid', '=', user.userUuid)
      .where('idem_key', '=', 'lost-answer-1')
      .execute();
    const retried = await pay(user, payload, { 'idempotency-key': 'lost-answer-1' });
    assert.equal(retried.statusCode, 202, retried.body);
    assert.equal(retried.json().paymentId, first.json().paymentId);
    const replay = await pay(user, payload, { 'idempotency-key': 'lost-answer-1' });
    assert.equal(replay.statusCode, 202, 'the answer stored for the key is the payment');
    assert.equal(await pointBalance(point, user.userUuid), 0n, 'deducted once');
    assert.equal((await outboxFor(first.json().paymentId)).length, 1, 'one cash request');
  });

  it('when the same payment is started twice at once, then one attempt makes it and the other finds it', async () => {
    const user = await userWithAccount(300);
    const input = {
      paymentId: uuidv7(),
      userUuid: user.userUuid,
      orderId: undefined,
      accountNo: user.accountNo,
      cashAmount: 100n,
      pointAmount: 300n,
      merchant: undefined,
    };
    const deps = { payments: point.payments, accountLinks: point.accountLinks };
    const results = (await Promise.all([1, 2].map(() => startPayment(deps, input)))) as Payment[];
    assert.deepEqual(
      results.map((payment) => payment.paymentId),
      [input.paymentId, input.paymentId],
    );
    assert.equal(await pointBalance(point, user.userUuid), 0n);
  });

  it('when a refused payment is retried with its Idempotency-Key, then the same 409 is replayed even after points were charged', async () => {
    const user = await userWithAccount(100);
    const payload = { accountNo: user.accountNo, cashAmount: 0, pointAmount: 500 };
    const first = await pay(user, payload, { 'idempotency-key': 'refused-1' });
    assert.equal(first.statusCode, 409);
    await charge(point, user, 1_000);
    const replay = await pay(user, payload, { 'idempotency-key': 'refused-1' });
    assert.equal(replay.statusCode, 409);
    assert.equal(replay.json().code, 'INSUFFICIENT_POINTS');
    assert.equal(await pointBalance(point, user.userUuid), 1_100n);
  });

  it('when a payment needs no cash, then it completes locally: COMPLETED, settledAt set, no cash request', async () => {
    const user = await userWithAccount(1_000);
    const response = await pay(user, { accountNo: user.accountNo, cashAmount: 0, pointAmount: 400 });
    assert.equal(response.statusCode, 202);
    const { paymentId } = response.json();
    const read = (
      await point.app.inject({ method: 'GET', url: `/api/v1/payments/${paymentId}`, headers: user.headers })
    ).json();
    assert.equal(read.status, 'COMPLETED');
    assert.ok(read.settledAt);
    assert.equal(await pointBalance(point, user.userUuid), 600n);
    assert.equal((await outboxFor(paymentId)).length, 0);
  });

  it('when a payment uses no points, then it is a cash-only saga: no wallet change, one cash request', async () => {
    const user = await userWithAccount();
    const response = await pay(user, { accountNo: user.accountNo, cashAmount: 2_500, pointAmount: 0 });
    assert.equal(response.statusCode, 202);
    assert.equal((await historyOf(point, user.userUuid)).length, 0);
    assert.equal((await outboxFor(response.json().paymentId)).length, 1);
  });

  it('when the body breaks a rule (floats, strings, negatives, both zero, too large, bad ids), then 400 VALIDATION_FAILED and nothing happens', async () => {
    const user = await userWithAccount(1_000);
    const valid = { accountNo: user.accountNo, cashAmount: 100, pointAmount: 100 };
    const bad: Record<string, unknown>[] = [
      { ...valid, cashAmount: 1.5 },
      { ...valid, pointAmount: 0.1 },
      { ...valid, cashAmount: '100' },
      { ...valid, pointAmount: '1' },
      { ...valid, cashAmount: -1 },
      { ...valid, pointAmount: -5 },
      { ...valid, cashAmount: 0, pointAmount: 0 },
      { ...valid, cashAmount: 100_000_001 },
      { ...valid, pointAmount: 1e16 },
      { ...valid, accountNo: '1234' },
      { ...valid, orderId: '' },
      { ...valid, orderId: 'has space' },
      { ...valid, orderId: 'x'.repeat(65) },
      { ...valid, merchant: 'm'.repeat(101) },
      { accountNo: user.accountNo, cashAmount: 100 },
    ];
    for (const payload of bad) {
      const response = await pay(user, payload);
      assert.equal(response.statusCode, 400, JSON.stringify(payload));
      assert.equal(response.json().code, 'VALIDATION_FAILED');
    }
    assert.equal(await pointBalance(point, user.userUuid), 1_000n);
    const ok = await pay(user, {
      ...valid,
      orderId: `${'x'.repeat(63)}_`,
      merchant: 'm'.repeat(100),
      extra: 'ignored',
    });
    assert.equal(ok.statusCode, 202);
  });

  it('when someone else (or nobody) asks for a payment, then 404 PAYMENT_NOT_FOUND, the same as for an unknown id', async () => {
    const owner = await userWithAccount();
    const { paymentId } = (
      await pay(owner, { accountNo: owner.accountNo, cashAmount: 100, pointAmount: 0 })
    ).json();
    const stranger = await newUser();
    for (const [user, id] of [
      [stranger, paymentId],
      [owner, '0192f5a8-5c1e-7a3b-8c4d-1234567890ab'],
      [owner, 'not-a-uuid'],
      // Not ASCII (found by `npm run chaos -- fuzz`): MariaDB refused to compare it with the id column (500).
      [owner, encodeURIComponent('가')],
      [owner, encodeURIComponent('\u202e')],
    ] as const) {
      const response = await point.app.inject({
        method: 'GET',
        url: `/api/v1/payments/${id}`,
        headers: user.headers,
      });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().code, 'PAYMENT_NOT_FOUND');
    }
  });
  it('when the same payment id is started twice (a retry whose first answer was lost), then points are deducted once and the first payment is returned', async () => {
    const user = await userWithAccount(5_000);
    const paymentId = uuidv7();
    const input = {
      userUuid: user.userUuid,
      accountNo: user.accountNo,
      cashAmount: 1_000n,
      pointAmount: 2_000n,
      merchant: undefined,
      orderId: undefined,
      paymentId,
    };
    const deps = { payments: point.payments, accountLinks: point.accountLinks };
    const first = (await startPayment(deps, input)) as Payment;
    const again = (await startPayment(deps, input)) as Payment;
    assert.equal(again.paymentId, first.paymentId);
    assert.equal(
      again.createdAt.getTime(),
      first.createdAt.getTime(),
      'the stored payment, not a second one',
    );
    assert.equal(await pointBalance(point, user.userUuid), 3_000n);
    const uses = (await historyOf(point, user.userUuid)).filter((row) => row.type === 'USE');
    assert.equal(uses.length, 1);
    const requests = (await outboxRows(point)).filter((row) => row.payload.includes(paymentId));
    assert.equal(requests.length, 1);
  });
});

describe('composite payments: acceptances gathered into one call of start_payments', {
  timeout: 60_000,
}, () => {
  let point: TestPoint;
  before(async () => {
    point = await startPoint('payment_batches');
  });
  after(async () => {
    await point?.close();
  });

  function newPayment(user: TestUser, pointAmount: bigint, orderId?: string): NewPayment {
    const paymentId = uuidv7();
    return {
      paymentId,
      userUuid: user.userUuid,
      orderId: orderId ?? paymentId,
      accountNo: fakeAccountNo(),
      cashAmount: 1_000n,
      pointAmount,
      merchant: null,
    };
  }

  /** Starts every payment in one turn: the group commit sends them as one batch. */
  function startTogether(
    payments: NewPayment[],
    key?: PaymentKey,
  ): Promise<PromiseSettledResult<StartPaymentResult>[]> {
    return Promise.allSettled(
      payments.map((payment) =>
        point.payments.start(
          payment,
          decide(
            { status: 'NEW', cashAmount: payment.cashAmount, pointAmount: payment.pointAmount, attempts: 0 },
            { type: 'ACCEPTED' },
          ),
          key,
        ),
      ),
    );
  }

  /** An Idempotency-Key of the user's, bound to the 202 naming the payment. */
  function keyOf(user: TestUser): PaymentKey {
    return {
      binding: { userUuid: user.userUuid, key: uniqueName('pay-key'), requestHash: 'a'.repeat(64) },
      answer: (payment) => ({ statusCode: 202, body: { paymentId: payment.paymentId } }),
    };
  }

  async function keyRowOf(key: PaymentKey) {
    return point.database.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('user_uuid', '=', key.binding.userUuid)
      .where('idem_key', '=', key.binding.key)
      .executeTakeFirst();
  }

  function kinds(results: PromiseSettledResult<StartPaymentResult>[]): string[] {
    return results.map((result) => (result.status === 'fulfilled' ? result.value.kind : 'rejected'));
  }

  it('when one user’s payments come together and the points run out partway, then each is decided in its turn as if alone: a smaller one after a refused one still fits', async () => {
    const user = await newUser();
    await charge(point, user, 3_000);
    const payments = [1_000n, 1_500n, 1_000n, 400n].map((amount) => newPayment(user, amount));
    const results = await startTogether(payments);
    assert.deepEqual(kinds(results), ['started', 'started', 'insufficientPoints', 'started']);
    assert.equal(await pointBalance(point, user.userUuid), 100n);
    const uses = (await historyOf(point, user.userUuid)).filter((row) => row.type === 'USE');
    assert.deepEqual(
      uses.map((row) => [row.amount, row.balance_after]),
      [
        ['1000', '2000'],
        ['1500', '500'],
        ['400', '100'],
      ],
    );
    assert.equal(await paymentRow(point, payments[2]!.paymentId), undefined, 'the refused one wrote nothing');
    const requests = (await outboxRows(point)).filter((row) =>
      payments.some((payment) => row.payload.includes(payment.paymentId)),
    );
    assert.equal(requests.length, 3, 'a cash request for each started payment');
  });

  it('when several users’ payments come together, then each user’s points pay only that user’s payments', async () => {
    const users = await Promise.all([newUser(), newUser(), newUser()]);
    for (const user of users) await charge(point, user, 1_000);
    const payments = users.flatMap((user) => [newPayment(user, 600n), newPayment(user, 600n)]);
    const results = await startTogether(payments);
    assert.deepEqual(kinds(results), [
      'started',
      'insufficientPoints',
      'started',
      'insufficientPoints',
      'started',
      'insufficientPoints',
    ]);
    for (const user of users) assert.equal(await pointBalance(point, user.userUuid), 400n);
  });

  it('when one batch holds a payment twice and an order id twice, then the payment is made once and the second order is DUPLICATE_ORDER without spending a point', async () => {
    const user = await newUser();
    await charge(point, user, 5_000);
    const payment = newPayment(user, 1_000n);
    const first = newPayment(user, 700n, 'order-twice');
    const second = newPayment(user, 800n, 'order-twice');
    const results = await startTogether([payment, payment, first, second]);
    assert.deepEqual(kinds(results), ['started', 'started', 'started', 'duplicateOrder']);
    const [made, again] = results as PromiseFulfilledResult<StartPaymentResult & { kind: 'started' }>[];
    assert.equal(
      again!.value.payment.createdAt.getTime(),
      made!.value.payment.createdAt.getTime(),
      'the stored payment',
    );
    assert.equal(await pointBalance(point, user.userUuid), 3_300n);
    assert.equal((await historyOf(point, user.userUuid)).filter((row) => row.type === 'USE').length, 2);
  });

  it('when two requests with one Idempotency-Key land in one batch, then one payment is made, the key is bound to its answer, and the other finds the key taken', async () => {
    const user = await newUser();
    await charge(point, user, 1_000);
    const key = keyOf(user);
    const payments = [newPayment(user, 600n), newPayment(user, 600n)];
    const results = await startTogether(payments, key);
    assert.deepEqual(kinds(results), ['started', 'keyTaken']);
    assert.equal(await pointBalance(point, user.userUuid), 400n);
    assert.equal(await paymentRow(point, payments[1]!.paymentId), undefined);
    const row = await keyRowOf(key);
    assert.deepEqual(
      [row?.state, row?.operation_id, row?.status_code, JSON.parse(row?.response_body ?? 'null')],
      ['DONE', payments[0]!.paymentId, 202, { paymentId: payments[0]!.paymentId }],
    );
  });

  it('when a keyed payment is refused for its points, then its key row goes with it: a later payment of the batch with that key makes the payment and binds it', async () => {
    const user = await newUser();
    await charge(point, user, 500);
    const key = keyOf(user);
    const payments = [newPayment(user, 600n), newPayment(user, 100n)];
    const results = await startTogether(payments, key);
    assert.deepEqual(kinds(results), ['insufficientPoints', 'started']);
    assert.equal((await keyRowOf(key))?.operation_id, payments[1]!.paymentId);
    assert.equal(await pointBalance(point, user.userUuid), 400n);
  });

  it('when one payment of a batch holds a value the database refuses, then that one fails alone, nothing of it is stored cut short, and the others are made', async () => {
    const user = await newUser();
    await charge(point, user, 5_000);
    const good = [newPayment(user, 100n), newPayment(user, 200n)];
    // 65 characters: one more than payments.order_id holds (the route refuses it, and so would the
    // cash request's schema: this one asks no cash). JSON_TABLE alone would have cut it short.
    const bad = { ...newPayment(user, 300n, 'o'.repeat(65)), cashAmount: 0n };
    const results = await startTogether([good[0]!, bad, good[1]!]);
    assert.deepEqual(kinds(results), ['started', 'rejected', 'started']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /too long/i);
    assert.equal(await paymentRow(point, bad.paymentId), undefined);
    assert.equal(await pointBalance(point, user.userUuid), 4_700n);
  });
});
