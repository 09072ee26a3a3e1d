import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEvent, messageKey } from '@nuri/contracts/events';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import { readTopicFrom, readTopicUntil } from '@nuri/platform/testing';
import type { Message } from '@platformatic/kafka';
import { sql } from 'kysely';
import { createDepositStore, settleDeposits } from '../../src/db/deposits-repository.ts';
import { createDepositResender } from '../../src/events/deposit-resender.ts';
import { createEventRuntime, type EventRuntime } from '../../src/events/runtime.ts';
import { type ChannelTopics, topicsToEnsure } from '../../src/events/topics.ts';
import {
  brokers,
  randomUserUuid,
  silentLogger,
  startService,
  type TestService,
  uniqueName,
  waitUntil,
} from './helpers.ts';

const fastTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
};

let service: TestService;
let topics: ChannelTopics;
let runtime: EventRuntime;
let core: EventProducer;
let userUuid: string;
let token: string;
const accountNo = '110-300-000001';

before(async () => {
  const base = uniqueName('it.cu');
  topics = { depositRequested: `${base}.deposit.requested`, depositSettled: `${base}.deposit.settled` };
  await ensureTopics({ brokers, topics: topicsToEnsure(topics).map((name) => ({ name, partitions: 2 })) });
  service = await startService('deposits', { depositRequestedTopic: topics.depositRequested });
  runtime = createEventRuntime({
    db: service.database.db,
    brokers,
    topics,
    depositsGroupId: uniqueName('channel-user.deposits'),
    depositBatchSizeMax: 100,
    outboxBatchSizeMax: 100,
    logger: silentLogger,
    relayPollIntervalMs: 20,
    consumerTimings: fastTimings,
  });
  await runtime.start();
  core = createEventProducer({ brokers, clientId: 'channel-user-test-core' });
  userUuid = randomUserUuid();
  token = (await service.issuer.issue(userUuid)).token;
  await service.database.db
    .insertInto('account_links')
    .values({ account_no: accountNo, user_uuid: userUuid })
    .execute();
});

after(async () => {
  await core?.close();
  await runtime?.stop();
  await service?.close();
  if (topics !== undefined) await deleteTopics(brokers, topicsToEnsure(topics)).catch(() => {});
});

function deposit(amount: unknown, headers: Record<string, string> = {}, as = token, to = accountNo) {
  return service.app.inject({
    method: 'POST',
    url: `/api/v1/accounts/${to}/deposits`,
    headers: { authorization: `Bearer ${as}`, ...headers },
    payload: { amount } as Record<string, unknown>,
  });
}

function readTopic(topic: string, count: number): Promise<Message<string, string, string, string>[]> {
  return readTopicFrom(brokers, topic, count, 15_000);
}

/**
 * The deposit ids of the deposit.requested events that reached the topic for
 * these deposits: read until each has come, and a moment longer, so a second
 * event for one of them is caught too. (The relay deletes what it sent, so
 * the outbox cannot tell how many were written.)
 */
async function requestedEventsOf(depositIds: readonly string[]): Promise<string[]> {
  const idsIn = (received: readonly Message<string, string, string, string>[]) =>
    received
      .map((message) => (JSON.parse(message.value) as { data: { depositId: string } }).data.depositId)
      .filter((depositId) => depositIds.includes(depositId));
  const received = await readTopicUntil(
    brokers,
    topics.depositRequested,
    'a deposit.requested for every deposit',
    (sofar) => {
      const seen = new Set(idsIn(sofar));
      return depositIds.every((depositId) => seen.has(depositId));
    },
    15_000,
    500,
  );
  return idsIn(received);
}

async function settle(
  data: { depositId: string; status: 'COMPLETED' | 'FAILED'; balanceAfter?: number; failureCode?: string },
  id?: string,
) {
  const event = createEvent(
    'deposit.settled',
    { accountNo, settledAt: new Date().toISOString(), ...data },
    { source: 'core-payment', correlationId: 'test', ...(id === undefined ? {} : { id }) },
  );
  await core.sendEvents([{ topic: topics.depositSettled, key: messageKey(event), event }]);
  return event;
}

async function getDeposit(depositId: string, as = token) {
  return service.app.inject({
    method: 'GET',
    url: `/api/v1/deposits/${depositId}`,
    headers: { authorization: `Bearer ${as}` },
  });
}

test('when a deposit is requested, then 202 PENDING, the row and its deposit.requested event exist, and settlement completes it once', async () => {
  const response = await deposit(50_000);
  assert.equal(response.statusCode, 202, response.body);
  const accepted = response.json<{ depositId: string; accountNo: string; amount: number; status: string }>();
  assert.deepEqual(
    { ...accepted, depositId: 'x' },
    { depositId: 'x', accountNo, amount: 50_000, status: 'PENDING' },
  );
  const row = await service.database.db
    .selectFrom('deposits')
    .selectAll()
    .where('deposit_id', '=', accepted.depositId)
    .executeTakeFirstOrThrow();
  assert.equal(row.status, 'PENDING');
  assert.equal(row.amount, '50000');

  const [message] = (await readTopic(topics.depositRequested, 1)).filter((m) =>
    m.value.includes(accepted.depositId),
  );
  assert.ok(message);
  const event = JSON.parse(message.value) as { type: string; data: Record<string, unknown> };
  assert.equal(event.type, 'deposit.requested');
  assert.equal(message.key, accountNo);
  assert.deepEqual(event.data, {
    ...event.data,
    depositId: accepted.depositId,
    accountNo,
    userUuid,
    amount: 50_000,
  });

  const pending = await getDeposit(accepted.depositId);
  assert.equal(pending.json().status, 'PENDING');
  assert.ok(!('settledAt' in pending.json()));

  const settled = await settle({ depositId: accepted.depositId, status: 'COMPLETED', balanceAfter: 50_000 });
  // Redelivery of the same event must change nothing.
  await settle(
    { depositId: accepted.depositId, status: 'FAILED', failureCode: 'ACCOUNT_CLOSED' },
    settled.id,
  );
  await waitUntil(
    'COMPLETED',
    async () => (await getDeposit(accepted.depositId)).json().status === 'COMPLETED',
    15_000,
  );
  const done = (await getDeposit(accepted.depositId)).json();
  assert.equal(done.balanceAfter, 50_000);
  assert.ok(done.settledAt);
  assert.ok(!('failureCode' in done));
  // Whenever a repeat arrives, it finds the deposit settled: nothing changes.
  const repeated = await settleDeposits(service.database.db, [
    {
      eventId: settled.id,
      depositId: accepted.depositId,
      status: 'FAILED',
      balanceAfter: null,
      failureCode: 'ACCOUNT_CLOSED',
      settledAt: new Date(),
    },
  ]);
  assert.equal(repeated, 0);
  await sleep(1_000);
  const still = (await getDeposit(accepted.depositId)).json();
  assert.deepEqual(still, done);
});

test('when the core reports a failure a user can act on, then the deposit is FAILED with that code', async () => {
  const { depositId } = (await deposit(7)).json<{ depositId: string }>();
  await settle({ depositId, status: 'FAILED', failureCode: 'ACCOUNT_CLOSED' });
  await waitUntil('FAILED', async () => (await getDeposit(depositId)).json().status === 'FAILED', 15_000);
  const body = (await getDeposit(depositId)).json();
  assert.equal(body.failureCode, 'ACCOUNT_CLOSED');
  assert.ok(!('balanceAfter' in body));
});

test('when another user or a malformed id asks for a deposit, then 404 DEPOSIT_NOT_FOUND', async () => {
  const { depositId } = (await deposit(10)).json<{ depositId: string }>();
  const stranger = (await service.issuer.issue(randomUserUuid())).token;
  for (const [id, as] of [
    [depositId, stranger],
    ['not-a-uuid', token],
    ['01890a5d-ac96-774b-bcce-b302099a8057', token],
  ] as const) {
    const response = await getDeposit(id, as);
    assert.equal(response.statusCode, 404);
    assert.equal(response.json().code, 'DEPOSIT_NOT_FOUND');
  }
});

test('when someone deposits to an account that is not theirs, then 404 and nothing is written', async () => {
  const stranger = (await service.issuer.issue(randomUserUuid())).token;
  // A deposit's event is written in the deposit's own statement, only with its row: no row, no event.
  const countDeposits = () =>
    service.database.db
      .selectFrom('deposits')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow();
  const before = await countDeposits();
  assert.equal((await deposit(10, {}, stranger)).statusCode, 404);
  assert.equal((await deposit(10, {}, token, '110-300-999999')).statusCode, 404);
  assert.equal((await countDeposits()).n, before.n);
});

test('when a keyed deposit is refused (another user\u2019s account), then the 404 is bound to the key: replayed as it was, and the key is not free for another request', async () => {
  const stranger = (await service.issuer.issue(randomUserUuid())).token;
  const headers = { 'idempotency-key': uniqueName('dep-refused') };
  const refused = await deposit(10, headers, stranger);
  assert.equal(refused.statusCode, 404);
  assert.equal(refused.headers['idempotent-replayed'], undefined);
  const again = await deposit(10, headers, stranger);
  assert.equal(again.statusCode, 404);
  assert.equal(again.json().code, refused.json().code);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(
    (await deposit(20, headers, stranger)).statusCode,
    422,
    'the key is bound to the refused request',
  );
});

test('when the amount is bad, then 400 and when the key is replayed, then one deposit with the replayed answer', async () => {
  for (const amount of [0, -5, 0.5, '5', 100_000_001, null]) {
    const response = await deposit(amount);
    assert.equal(response.statusCode, 400, JSON.stringify(amount));
    assert.equal(response.json().code, 'VALIDATION_FAILED');
  }
  const headers = { 'idempotency-key': uniqueName('dep') };
  const first = await deposit(1_000, headers);
  const second = await deposit(1_000, headers);
  assert.equal(first.statusCode, 202);
  assert.equal(second.statusCode, 202);
  assert.equal(second.headers['idempotent-replayed'], 'true');
  assert.equal(second.json().depositId, first.json().depositId);
  const count = await service.database.db
    .selectFrom('deposits')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('deposit_id', '=', first.json().depositId)
    .executeTakeFirstOrThrow();
  assert.equal(count.n, 1);
  const reused = await deposit(2_000, headers);
  assert.equal(reused.statusCode, 422);
  assert.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED');
});

test('when requests with one key arrive together, then one deposit and one event exist, the key is bound in the same write, and every answer is that deposit', async () => {
  const key = uniqueName('dep-twins');
  const responses = await Promise.all(
    Array.from({ length: 8 }, () => deposit(700, { 'idempotency-key': key })),
  );
  assert.deepEqual(
    responses.map((response) => response.statusCode),
    Array(8).fill(202),
    responses.map((response) => response.body).join('\n'),
  );
  const ids = new Set(responses.map((response) => response.json().depositId));
  assert.equal(ids.size, 1, 'one deposit for one key');
  assert.equal(
    responses.filter((response) => response.headers['idempotent-replayed'] === undefined).length,
    1,
  );
  const [depositId] = [...ids];
  const row = await service.database.db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('idem_key', '=', key)
    .executeTakeFirstOrThrow();
  assert.equal(row.state, 'DONE');
  assert.equal(row.operation_id, depositId);
  assert.equal(row.status_code, 202);
  assert.deepEqual(
    JSON.parse(row.response_body!),
    responses.find((r) => r.headers['idempotent-replayed'] === undefined)!.json(),
  );
  assert.deepEqual(await requestedEventsOf([depositId]), [depositId]);
});

test('when the same deposit id is requested again (a retry whose first answer was lost), then one deposit and one event exist and the first is returned', async () => {
  const store = createDepositStore(service.database.db, topics.depositRequested);
  const depositId = uuidv7();
  const first = await store.request(
    {
      depositId,
      accountNo,
      userUuid,
      amount: 7_000n,
      status: 'PENDING',
      balanceAfter: null,
      failureCode: null,
      requestedAt: new Date(),
      settledAt: null,
    },
    'retry-test',
  );
  const again = await store.request({ ...first, requestedAt: new Date(Date.now() + 1_000) }, 'retry-test');
  assert.equal(again.depositId, depositId);
  assert.equal(again.requestedAt.getTime(), first.requestedAt.getTime(), 'the stored deposit, not the retry');
  const rows = await service.database.db
    .selectFrom('deposits')
    .select('deposit_id')
    .where('deposit_id', '=', depositId)
    .execute();
  assert.equal(rows.length, 1);
  assert.deepEqual(await requestedEventsOf([depositId]), [depositId]);
});

function pendingDeposit(amount: bigint, depositId = uuidv7()) {
  return {
    depositId,
    accountNo,
    userUuid,
    amount,
    status: 'PENDING' as const,
    balanceAfter: null,
    failureCode: null,
    requestedAt: new Date(),
    settledAt: null,
  };
}

test('when many deposits arrive at once, then each gets its own 202 and id, and each row has exactly one event', async () => {
  const responses = await Promise.all(Array.from({ length: 60 }, (_, index) => deposit(index + 1)));
  assert.deepEqual(new Set(responses.map((response) => response.statusCode)), new Set([202]));
  const accepted = responses.map((response) => response.json<{ depositId: string; amount: number }>());
  assert.deepEqual(
    accepted.map((body) => body.amount),
    Array.from({ length: 60 }, (_, index) => index + 1),
    'each answer is its own request',
  );
  const ids = accepted.map((body) => body.depositId);
  assert.equal(new Set(ids).size, 60);
  const rows = await service.database.db
    .selectFrom('deposits')
    .select(['deposit_id', 'amount'])
    .where('deposit_id', 'in', ids)
    .execute();
  assert.equal(rows.length, 60);
  for (const body of accepted) {
    assert.equal(rows.find((row) => row.deposit_id === body.depositId)?.amount, String(body.amount));
  }
  assert.deepEqual((await requestedEventsOf(ids)).sort(), [...ids].sort());
});

test('when a retry lands in the same write as its original, then one row and one event, and both get that deposit', async () => {
  // Submitted in one turn, the three go out in one write.
  const store = createDepositStore(service.database.db, topics.depositRequested, {
    batchSizeMax: 10,
    queueLengthMax: 10,
    writesInFlightMax: 1,
  });
  const depositId = uuidv7();
  const first = pendingDeposit(900n, depositId);
  const [, original, retry] = await Promise.all([
    store.request(pendingDeposit(1n), 'batch-test'),
    store.request(first, 'batch-test'),
    store.request({ ...first, requestedAt: new Date(first.requestedAt.getTime() + 1_000) }, 'batch-test'),
  ]);
  assert.equal(original.depositId, depositId);
  assert.deepEqual(retry, original, 'the retry gets the deposit the original wrote');
  const rows = await service.database.db
    .selectFrom('deposits')
    .select('deposit_id')
    .where('deposit_id', '=', depositId)
    .execute();
  assert.equal(rows.length, 1);
  assert.deepEqual(await requestedEventsOf([depositId]), [depositId]);
});

test('when the write queue is full, then a deposit is refused at once with 503 and nothing of it is written', async () => {
  const store = createDepositStore(service.database.db, topics.depositRequested, {
    batchSizeMax: 10,
    queueLengthMax: 2,
    writesInFlightMax: 1,
  });
  const refusedId = uuidv7();
  const outcomes = await Promise.allSettled([
    store.request(pendingDeposit(1n), 'queue-test'),
    store.request(pendingDeposit(2n), 'queue-test'),
    store.request(pendingDeposit(3n, refusedId), 'queue-test'),
  ]);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ['fulfilled', 'fulfilled', 'rejected'],
  );
  const refusal = (outcomes[2] as PromiseRejectedResult).reason as { code: string; status: number };
  assert.equal(refusal.status, 503);
  assert.equal(refusal.code, 'SERVICE_UNAVAILABLE');
  const rows = await service.database.db
    .selectFrom('deposits')
    .select('deposit_id')
    .where('deposit_id', '=', refusedId)
    .execute();
  assert.deepEqual(rows, []);
});

test('when one batch of settlements carries two outcomes for one deposit, then the first is applied and the second ignored', async () => {
  const { depositId } = (await deposit(321)).json<{ depositId: string }>();
  const settledAt = new Date();
  const changed = await settleDeposits(service.database.db, [
    { eventId: uuidv7(), depositId, status: 'COMPLETED', balanceAfter: 321n, failureCode: null, settledAt },
    {
      eventId: uuidv7(),
      depositId,
      status: 'FAILED',
      balanceAfter: null,
      failureCode: 'ACCOUNT_CLOSED',
      settledAt,
    },
  ]);
  assert.equal(changed, 1);
  const row = await service.database.db
    .selectFrom('deposits')
    .selectAll()
    .where('deposit_id', '=', depositId)
    .executeTakeFirstOrThrow();
  assert.equal(row.status, 'COMPLETED');
  assert.equal(row.balance_after, '321');
  assert.equal(row.failure_code, null);
});

test('when a deposit stays PENDING past the re-send delay (its request lost after the 202), then its request is sent again under a new event id, with a growing wait, and never once it settled', async () => {
  const resender = createDepositResender({
    db: service.database.db,
    depositRequestedTopic: topics.depositRequested,
    logger: silentLogger,
    resendAfterMs: 60_000,
    resendBackoffMaxMs: 3_600_000,
    scanIntervalMs: 60_000,
    batchSizeMax: 100,
  });
  const response = await deposit(777);
  assert.equal(response.statusCode, 202);
  const { depositId } = response.json<{ depositId: string }>();
  const settledOne = (await deposit(778)).json<{ depositId: string }>().depositId;
  await settle({ depositId: settledOne, status: 'COMPLETED', balanceAfter: 1 });
  await waitUntil(
    'the other deposit settled',
    async () => (await getDeposit(settledOne)).json().status === 'COMPLETED',
    15_000,
  );

  const start = Date.now();
  assert.equal(await resender.runOnce(new Date(start + 30_000)), 0, 'not yet due');
  assert.ok((await resender.runOnce(new Date(start + 61_000))) >= 1, 'due: sent again');
  assert.equal(await resender.runOnce(new Date(start + 62_000)), 0, 'not again right away');
  assert.ok((await resender.runOnce(new Date(start + 61_000 + 121_000))) >= 1, 'again after twice the delay');

  await waitUntil(
    'the first request and both re-sends published',
    async () =>
      (await readTopic(topics.depositRequested, 1)).filter((message) => message.value.includes(depositId))
        .length >= 3,
    15_000,
  );
  const all = (await readTopic(topics.depositRequested, 3))
    .map((message) => JSON.parse(message.value) as { id: string; data: { depositId: string } })
    .filter((event) => event.data.depositId === depositId);
  assert.equal(all.length, 3);
  assert.equal(new Set(all.map((event) => event.id)).size, 3, 'each under a new event id');
  const resentOfSettled = (await readTopic(topics.depositRequested, 1)).filter((message) =>
    message.value.includes(settledOne),
  );
  assert.equal(resentOfSettled.length, 1, 'a settled deposit is never sent again');
  const row = await service.database.db
    .selectFrom('deposits')
    .select(['resends', 'status'])
    .where('deposit_id', '=', depositId)
    .executeTakeFirstOrThrow();
  assert.deepEqual(row, { resends: 2, status: 'PENDING' });
});
