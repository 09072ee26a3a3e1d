import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, messageKey, newEventId } from '@nuri/contracts/events';
import { settleDeposits } from '../../src/db/deposits-repository.ts';
import {
  balanceOf,
  openAccount,
  randomUserUuid,
  readTopic,
  startEvents,
  startService,
  type TestEvents,
  type TestService,
  waitUntil,
} from './helpers.ts';

describe('deposits from Kafka', { timeout: 90_000 }, () => {
  let service: TestService;
  let events: TestEvents;
  before(async () => {
    service = await startService('deposits');
    events = await startEvents(service, 'deposits');
  });
  after(async () => {
    await events?.stop();
    await service?.close();
  });

  function depositRequested(accountNo: string, userUuid: string, amount: number, depositId = newEventId()) {
    return createEvent(
      'deposit.requested',
      { depositId, accountNo, userUuid, amount, requestedAt: new Date().toISOString() },
      { source: 'channel-user', correlationId: `it-${depositId}` },
    );
  }

  function send(list: EventOf<'deposit.requested'>[]) {
    return events.sender.sendEvents(
      list.map((event) => ({ topic: events.topics.depositRequested, key: messageKey(event), event })),
    );
  }

  async function settledFor(depositIds: string[], expected: number) {
    const wanted = new Set(depositIds);
    let found: EventOf<'deposit.settled'>[] = [];
    await waitUntil(
      `${expected} deposit.settled for ${depositIds.length} deposits`,
      async () => {
        // The extra wait inside readTopic would catch a duplicate that trails the expected ones.
        const all = await readTopic(events.topics.depositSettled, 1, 20_000, 500);
        found = all
          .map((message) => JSON.parse(message.value) as EventOf<'deposit.settled'>)
          .filter((event) => wanted.has(event.data.depositId));
        return found.length >= expected;
      },
      30_000,
    );
    return found;
  }

  it('when the same deposit is delivered three times (the same event twice, once re-sent under a new event id), then it is applied once', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    const original = depositRequested(accountNo, userUuid, 30_000);
    const resent = { ...original, id: newEventId() };
    await send([original, original, resent]);

    await waitUntil(
      'the deposit is applied',
      async () => (await balanceOf(service, accountNo)) === 30_000n,
      20_000,
    );
    const settled = await settledFor([original.data.depositId], 2);
    // The same event id twice in one batch is one delivery; the re-sent one is answered again, identically.
    assert.equal(settled.length, 2);
    for (const event of settled) {
      assert.equal(event.data.status, 'COMPLETED');
      assert.equal(event.data.balanceAfter, 30_000);
      assert.equal(event.data.accountNo, accountNo);
      assert.equal(event.correlationId, original.correlationId);
    }
    assert.equal(await balanceOf(service, accountNo), 30_000n);
    const ledger = await service.database.db
      .selectFrom('ledger_transactions')
      .selectAll()
      .where('reference', '=', original.data.depositId)
      .execute();
    assert.equal(ledger.length, 1);
    const legs = await service.database.db
      .selectFrom('ledger_entries')
      .select(['account_no', 'side'])
      .where('transaction_id', '=', ledger[0]!.id)
      .orderBy('side')
      .execute();
    assert.deepEqual(legs, [
      { account_no: accountNo, side: 'CREDIT' },
      { account_no: 'INTERNAL:DEPOSIT_CLEARING', side: 'DEBIT' },
    ]);
  });

  it('when two transactions settle the same deposit at once, then it is applied once and both answer the same outcome', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    // Two deliveries racing (a member still finishing its batch after a
    // rebalance, and the one that took the partition over), each in a
    // transaction of its own; a new deposit each round, so that every round
    // races and the order varies.
    const rounds = 5;
    for (let round = 0; round < rounds; round += 1) {
      const depositId = newEventId();
      const missingAccountDeposit = newEventId();
      const answers: string[] = [];
      const settleOnce = (request: { depositId: string; accountNo: string }) =>
        settleDeposits(service.database.db, {
          events: [
            {
              eventId: newEventId(),
              correlationId: `race-${round}`,
              request: { ...request, userUuid, amount: 10_000n },
            },
          ],
          announce: (settled) => {
            for (const { outcome } of settled)
              answers.push(
                outcome.status === 'COMPLETED' ? `COMPLETED ${outcome.balanceAfter}` : outcome.failureCode,
              );
            return [];
          },
        });
      const applied = await Promise.all([
        settleOnce({ depositId, accountNo }),
        settleOnce({ depositId, accountNo }),
        settleOnce({ depositId: missingAccountDeposit, accountNo: '999-999-999998' }),
        settleOnce({ depositId: missingAccountDeposit, accountNo: '999-999-999998' }),
      ]);
      assert.equal(applied[0]! + applied[1]!, 1, `round ${round}: applied once in all`);
      const balance = String(10_000 * (round + 1));
      assert.deepEqual(answers.sort(), [
        'ACCOUNT_NOT_FOUND',
        'ACCOUNT_NOT_FOUND',
        `COMPLETED ${balance}`,
        `COMPLETED ${balance}`,
      ]);
      const ledger = await service.database.db
        .selectFrom('ledger_transactions')
        .select('id')
        .where('reference', '=', depositId)
        .execute();
      assert.equal(ledger.length, 1, `round ${round}: one ledger transaction`);
    }
    assert.equal(await balanceOf(service, accountNo), BigInt(10_000 * rounds));
  });

  it('when a batch holds an unknown account, a foreign account and an invalid event, then the rest are applied, the two settle FAILED and the invalid one reaches the DLQ', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    const good = [1_000, 2_000, 3_000, 4_000, 5_000].map((amount) =>
      depositRequested(accountNo, userUuid, amount),
    );
    const unknown = depositRequested('999-999-999999', userUuid, 7_000);
    const foreign = depositRequested(accountNo, randomUserUuid(), 8_000);
    const invalidId = newEventId();
    await events.sender.sendRaw([
      ...[good[0]!, unknown, good[1]!, foreign, good[2]!].map((event) => ({
        topic: events.topics.depositRequested,
        key: accountNo,
        value: JSON.stringify(event),
      })),
      {
        topic: events.topics.depositRequested,
        key: accountNo,
        value: JSON.stringify({
          ...depositRequested(accountNo, userUuid, 1),
          id: invalidId,
          data: { amount: 1.5 },
        }),
      },
      ...[good[3]!, good[4]!].map((event) => ({
        topic: events.topics.depositRequested,
        key: accountNo,
        value: JSON.stringify(event),
      })),
    ]);

    await waitUntil(
      'the good deposits are applied',
      async () => (await balanceOf(service, accountNo)) === 15_000n,
      20_000,
    );
    const settled = await settledFor(
      [...good, unknown, foreign].map((event) => event.data.depositId),
      7,
    );
    const byDeposit = new Map(settled.map((event) => [event.data.depositId, event.data]));
    for (const event of good) assert.equal(byDeposit.get(event.data.depositId)?.status, 'COMPLETED');
    assert.deepEqual(
      [
        byDeposit.get(unknown.data.depositId)?.failureCode,
        byDeposit.get(foreign.data.depositId)?.failureCode,
      ],
      ['ACCOUNT_NOT_FOUND', 'ACCOUNT_NOT_FOUND'],
    );
    const balances = good
      .map((event) => byDeposit.get(event.data.depositId)?.balanceAfter)
      .sort((a, b) => a! - b!);
    assert.deepEqual(balances, [1_000, 3_000, 6_000, 10_000, 15_000]);

    const dead = await readTopic(`${events.topics.depositRequested}.dlq`, 1, 20_000);
    assert.equal(dead.length, 1);
    assert.equal(JSON.parse(dead[0]!.value).id, invalidId);
    assert.equal(dead[0]!.headers.get('x-dlq-kind'), 'validation');

    const outcomes = await service.database.db
      .selectFrom('deposits')
      .select(['deposit_id', 'status', 'failure_code'])
      .where('deposit_id', 'in', [unknown.data.depositId, foreign.data.depositId])
      .execute();
    assert.equal(outcomes.length, 2);
    assert.ok(outcomes.every((row) => row.status === 'FAILED' && row.failure_code === 'ACCOUNT_NOT_FOUND'));
  });

  it('when a deposit would lift the balance past 10^15, then it settles FAILED BALANCE_LIMIT_EXCEEDED and nothing moves', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await service.database.db
      .updateTable('accounts')
      .set({ balance: 10n ** 15n - 10n })
      .where('account_no', '=', accountNo)
      .execute();
    const tooMuch = depositRequested(accountNo, userUuid, 11);
    await send([tooMuch]);
    const [settled] = await settledFor([tooMuch.data.depositId], 1);
    assert.equal(settled?.data.status, 'FAILED');
    assert.equal(settled?.data.failureCode, 'BALANCE_LIMIT_EXCEEDED');
    assert.equal(await balanceOf(service, accountNo), 10n ** 15n - 10n);
  });
});
