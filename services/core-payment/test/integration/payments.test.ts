import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, messageKey, newEventId } from '@nuri/contracts/events';
import {
  balanceOf,
  fund,
  openAccount,
  randomUserUuid,
  readTopic,
  startEvents,
  startService,
  type TestEvents,
  type TestService,
  waitUntil,
} from './helpers.ts';

describe('payment cash step from Kafka', { timeout: 90_000 }, () => {
  let service: TestService;
  let events: TestEvents;
  before(async () => {
    service = await startService('payments');
    events = await startEvents(service, 'payments');
  });
  after(async () => {
    await events?.stop();
    await service?.close();
  });

  function paymentRequested(
    data: { accountNo: string; userUuid: string; amount: number; paymentId?: string },
    attempt = 1,
  ): EventOf<'payment.requested'> {
    const paymentId = data.paymentId ?? newEventId();
    return createEvent(
      'payment.requested',
      {
        paymentId,
        accountNo: data.accountNo,
        userUuid: data.userUuid,
        amount: data.amount,
        orderId: `order-${paymentId}`,
        attempt,
      },
      { source: 'point', correlationId: `it-${paymentId}` },
    );
  }

  async function send(list: EventOf<'payment.requested'>[]) {
    await events.sender.sendEvents(
      list.map((event) => ({ topic: events.topics.paymentRequested, key: messageKey(event), event })),
    );
  }

  async function settledFor(paymentId: string, expected: number) {
    let found: EventOf<'payment.settled'>[] = [];
    await waitUntil(
      `${expected} payment.settled for ${paymentId}`,
      async () => {
        const all = await readTopic(events.topics.paymentSettled, 1, 20_000, 500);
        found = all
          .map((message) => JSON.parse(message.value) as EventOf<'payment.settled'>)
          .filter((event) => event.data.paymentId === paymentId);
        return found.length >= expected;
      },
      30_000,
    );
    return found;
  }

  it('when the saga re-sends a payment (new event id, higher attempt), then the cash is debited once and both answers are identical', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 10_000n);
    const first = paymentRequested({ accountNo, userUuid, amount: 4_000 });
    const again = paymentRequested(
      { accountNo, userUuid, amount: 4_000, paymentId: first.data.paymentId },
      2,
    );
    await send([first, again]);

    const settled = await settledFor(first.data.paymentId, 2);
    assert.equal(settled.length, 2);
    const outcomes = settled.map(({ data }) => ({ ...data, settledAt: undefined }));
    assert.deepEqual(outcomes[0], outcomes[1]);
    assert.deepEqual(outcomes[0], {
      paymentId: first.data.paymentId,
      userUuid,
      accountNo,
      status: 'SUCCEEDED',
      balanceAfter: 6_000,
      settledAt: undefined,
    });
    assert.equal(settled[0]!.correlationId, first.correlationId);
    assert.equal(await balanceOf(service, accountNo), 6_000n);
    const debits = await service.database.db
      .selectFrom('ledger_transactions')
      .selectAll()
      .where('type', '=', 'PAYMENT')
      .where('reference', '=', first.data.paymentId)
      .execute();
    assert.equal(debits.length, 1);
    const legs = await service.database.db
      .selectFrom('ledger_entries')
      .select(['account_no', 'side'])
      .where('transaction_id', '=', debits[0]!.id)
      .orderBy('side')
      .execute();
    assert.deepEqual(legs, [
      { account_no: 'INTERNAL:MERCHANT_SETTLEMENT', side: 'CREDIT' },
      { account_no: accountNo, side: 'DEBIT' },
    ]);
  });

  it('when the balance does not cover a payment, then it settles FAILED INSUFFICIENT_BALANCE, also on re-send, and nothing is debited', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 1_000n);
    const request = paymentRequested({ accountNo, userUuid, amount: 5_000 });
    await send([request]);
    const [firstAnswer] = await settledFor(request.data.paymentId, 1);
    assert.equal(firstAnswer?.data.status, 'FAILED');
    assert.equal(firstAnswer?.data.failureCode, 'INSUFFICIENT_BALANCE');
    // Money arriving later must not turn the settled failure into a debit.
    await fund(service, accountNo, userUuid, 10_000n);
    await send([
      paymentRequested({ accountNo, userUuid, amount: 5_000, paymentId: request.data.paymentId }, 2),
    ]);
    const answers = await settledFor(request.data.paymentId, 2);
    assert.ok(
      answers.every(
        (event) => event.data.status === 'FAILED' && event.data.failureCode === 'INSUFFICIENT_BALANCE',
      ),
    );
    assert.equal(await balanceOf(service, accountNo), 11_000n);
  });

  it("when a payment names another user's account, then it settles FAILED ACCOUNT_NOT_FOUND", async () => {
    const owner = randomUserUuid();
    const accountNo = await openAccount(service, owner);
    await fund(service, accountNo, owner, 10_000n);
    const request = paymentRequested({ accountNo, userUuid: randomUserUuid(), amount: 100 });
    await send([request]);
    const [answer] = await settledFor(request.data.paymentId, 1);
    assert.equal(answer?.data.failureCode, 'ACCOUNT_NOT_FOUND');
    assert.equal(await balanceOf(service, accountNo), 10_000n);
  });
});
