import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, newEventId, validateEvent } from '@nuri/contracts/events';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { createPgDatabase } from '../../src/db.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { createEventConsumer, dlqHeaders, isTransientInfrastructureError } from '../../src/kafka/consumer.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import {
  brokers,
  fastGroupTimings,
  pgAdminUrl,
  readTopic,
  silentLogger,
  uniqueName,
  waitUntil,
} from './kafka-helpers.ts';

const accountNo = '110-234-567890';
const userUuid = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';

function deposit(amount: number): EventOf<'deposit.requested'> {
  return createEvent(
    'deposit.requested',
    { depositId: newEventId(), accountNo, userUuid, amount, requestedAt: new Date().toISOString() },
    { source: 'it-dlq', correlationId: `c-${amount}` },
  );
}

describe('poison messages', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.dlq');
  const producer = createEventProducer({ brokers, clientId: 'it-dlq' });

  before(async () => {
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions: 1 },
        { name: `${topic}.dlq`, partitions: 1 },
      ],
    });
  });

  after(async () => {
    await producer.close();
    await deleteTopics(brokers, [topic, `${topic}.dlq`]);
  });

  it('when messages are not JSON, fail the schema or keep failing the handler, then they land in the DLQ with their error and later messages are still handled', async () => {
    const first = deposit(1);
    const outOfRange = { ...deposit(2), data: { ...deposit(2).data, amount: 0 } };
    const second = deposit(3);
    const unhandleable = deposit(4);
    const third = deposit(5);
    const send = (value: string) => producer.sendRaw([{ topic, key: accountNo, value }]);
    await send(JSON.stringify(first));
    await send('{"this is": not json');
    await send(JSON.stringify(outOfRange));
    await send(JSON.stringify(second));
    await send(JSON.stringify(unhandleable));
    await send(JSON.stringify(third));

    const registry = new Registry();
    const handled: string[] = [];
    let handlerCalls = 0;
    const consumer = createEventConsumer({
      brokers,
      groupId: uniqueName('g-dlq'),
      clientId: 'it-dlq-consumer',
      topics: [topic],
      validate: (topicName, value) =>
        validateEvent(topicName === topic ? 'deposit.requested' : topicName, value),
      handleBatch: async (batch) => {
        handlerCalls += 1;
        // All or nothing, like a handler that works in one transaction.
        if (batch.some((item) => item.event.id === unhandleable.id)) throw new Error('ledger says no');
        handled.push(...batch.map((item) => item.event.id));
      },
      dlqProducer: producer,
      logger: silentLogger,
      registry,
      batchRetriesMax: 1,
      messageRetriesMax: 1,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 50,
      ...fastGroupTimings,
    });
    await consumer.start();
    try {
      await waitUntil('the good events', () => handled.length >= 3, 30_000);
      const later = deposit(6);
      await send(JSON.stringify(later));
      await waitUntil('an event after the poison', () => handled.includes(later.id), 30_000);
      assert.deepEqual(handled, [first.id, second.id, third.id, later.id], 'each good event once, in order');
    } finally {
      await consumer.stop();
    }
    assert.ok(handlerCalls > 4, 'the failing batch was retried before isolating the poison');

    const dead = await readTopic(`${topic}.dlq`, 3, 30_000);
    assert.equal(dead.length, 3);
    const byOffset = new Map(dead.map((message) => [message.headers.get(dlqHeaders.offset), message]));
    const notJson = byOffset.get('1');
    const badSchema = byOffset.get('2');
    const failing = byOffset.get('4');
    assert.ok(notJson && badSchema && failing, 'original offsets are recorded');
    assert.equal(notJson.value, '{"this is": not json');
    assert.equal(notJson.headers.get(dlqHeaders.kind), 'validation');
    assert.match(notJson.headers.get(dlqHeaders.error) ?? '', /SyntaxError/);
    assert.match(badSchema.headers.get(dlqHeaders.error) ?? '', /\/data\/amount/);
    assert.equal(failing.headers.get(dlqHeaders.kind), 'handler');
    assert.match(failing.headers.get(dlqHeaders.error) ?? '', /ledger says no/);
    for (const message of dead) {
      assert.equal(message.key, accountNo);
      assert.equal(message.headers.get(dlqHeaders.topic), topic);
      assert.equal(message.headers.get(dlqHeaders.partition), '0');
    }
    assert.match(await registry.metrics(), /nuri_kafka_dlq_messages_total\{[^}]*\} 3/);
  });
});

describe('outages are not poison', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.outage');
  const producer = createEventProducer({ brokers, clientId: 'it-outage' });

  before(async () => {
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions: 1 },
        { name: `${topic}.dlq`, partitions: 1 },
      ],
    });
  });

  after(async () => {
    await producer.close();
    await deleteTopics(brokers, [topic, `${topic}.dlq`]);
  });

  it('when the handler keeps hitting an unreachable database, then the event waits (past every retry limit) and is handled once it is back, with nothing dead-lettered', async () => {
    const event = deposit(7);
    await producer.sendRaw([{ topic, key: accountNo, value: JSON.stringify(event) }]);
    const outageFailuresWanted = 6; // more than batchRetriesMax + messageRetriesMax
    let outageFailures = 0;
    const handled: string[] = [];
    const registry = new Registry();
    const consumer = createEventConsumer({
      brokers,
      groupId: uniqueName('g-outage'),
      clientId: 'it-outage-consumer',
      topics: [topic],
      validate: (_topicName, value) => validateEvent('deposit.requested', value),
      handleBatch: async (batch) => {
        if (outageFailures < outageFailuresWanted) {
          outageFailures += 1;
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        }
        handled.push(...batch.map((item) => item.event.id));
      },
      dlqProducer: producer,
      logger: silentLogger,
      registry,
      batchRetriesMax: 1,
      messageRetriesMax: 1,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 50,
      ...fastGroupTimings,
    });
    await consumer.start();
    try {
      await waitUntil('the event after the outage', () => handled.length === 1, 30_000);
    } finally {
      await consumer.stop();
    }
    assert.equal(outageFailures, outageFailuresWanted);
    assert.deepEqual(handled, [event.id]);
    assert.doesNotMatch(await registry.metrics(), /nuri_kafka_dlq_messages_total\{[^}]*\} [1-9]/);
  });

  it('when the handler hits real statement timeouts and deadlock-class errors past every retry limit, then the event waits and is handled, never dead-lettered', async () => {
    const event = deposit(8);
    await producer.sendRaw([{ topic, key: accountNo, value: JSON.stringify(event) }]);
    const database = createPgDatabase<unknown>({
      url: pgAdminUrl,
      poolSizeMax: 2,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 50,
      applicationName: 'it-dlq-timeouts',
    });
    const failuresWanted = 6; // more than batchRetriesMax + messageRetriesMax
    let failures = 0;
    const handled: string[] = [];
    const registry = new Registry();
    const consumer = createEventConsumer({
      brokers,
      groupId: uniqueName('g-timeouts'),
      clientId: 'it-timeouts-consumer',
      topics: [topic],
      validate: (_topicName, value) => validateEvent('deposit.requested', value),
      handleBatch: async (batch) => {
        if (failures < failuresWanted) {
          failures += 1;
          // A statement that outlives the pool's statement_timeout: PostgreSQL cancels it (57014).
          await sql`select pg_sleep(0.2)`.execute(database.db);
        }
        handled.push(...batch.map((item) => item.event.id));
      },
      dlqProducer: producer,
      logger: silentLogger,
      registry,
      batchRetriesMax: 1,
      messageRetriesMax: 1,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 50,
      ...fastGroupTimings,
    });
    await consumer.start();
    try {
      await waitUntil(
        'the event once the statements stop timing out',
        () => handled.includes(event.id),
        30_000,
      );
    } finally {
      await consumer.stop();
      await database.close();
    }
    assert.equal(failures, failuresWanted);
    assert.doesNotMatch(await registry.metrics(), /nuri_kafka_dlq_messages_total\{[^}]*\} [1-9]/);
  });

  it('when a batch times out on its own size every time, then it is tried in halves until each part passes, in order, nothing dead-lettered', async () => {
    const events = Array.from({ length: 24 }, (_, index) => deposit(100 + index));
    await producer.sendRaw(events.map((event) => ({ topic, key: accountNo, value: JSON.stringify(event) })));
    const database = createPgDatabase<unknown>({
      url: pgAdminUrl,
      poolSizeMax: 2,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 150,
      applicationName: 'it-dlq-split',
    });
    const handled: string[] = [];
    const sizes: number[] = [];
    const registry = new Registry();
    const consumer = createEventConsumer({
      brokers,
      groupId: uniqueName('g-split'),
      clientId: 'it-split-consumer',
      topics: [topic],
      validate: (_topicName, value) => validateEvent('deposit.requested', value),
      handleBatch: async (batch) => {
        sizes.push(batch.length);
        // 20 ms of work per event in one statement: past the 150 ms timeout from 8 events on (57014).
        await sql`select pg_sleep(${0.02 * batch.length})`.execute(database.db);
        handled.push(...batch.map((item) => item.event.id));
      },
      dlqProducer: producer,
      logger: silentLogger,
      registry,
      batchSizeMax: 24,
      batchLingerMs: 200,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 50,
      ...fastGroupTimings,
    });
    await consumer.start();
    try {
      const ids = events.map((event) => event.id);
      await waitUntil(
        'every event, in parts small enough',
        () => ids.every((id) => handled.includes(id)),
        30_000,
      );
      assert.deepEqual(
        handled.filter((id) => ids.includes(id)),
        ids,
        'each once, in the order sent',
      );
    } finally {
      await consumer.stop();
      await database.close();
    }
    assert.ok(
      Math.max(...sizes) >= 8,
      `a batch too large for the timeout came first (sizes ${sizes.join(', ')})`,
    );
    assert.doesNotMatch(await registry.metrics(), /nuri_kafka_dlq_messages_total\{[^}]*\} [1-9]/);
  });

  it('when errors are classified, then connection failures, timeouts, deadlocks and serialization failures are transient, and constraint violations or bugs are not', () => {
    for (const code of [
      '40001',
      '40P01',
      '57014',
      '55P03',
      '25006',
      '53100',
      '53200',
      'ER_LOCK_DEADLOCK',
      'ER_LOCK_WAIT_TIMEOUT',
    ]) {
      assert.equal(isTransientInfrastructureError(Object.assign(new Error(code), { code })), true, code);
    }
    for (const errno of [1205, 1213, 1969, 3024, 1290, 1021, 1114]) {
      assert.equal(
        isTransientInfrastructureError(Object.assign(new Error('x'), { errno })),
        true,
        String(errno),
      );
    }
  });

  it('when PostgreSQL refuses a write because it is read-only (a standby after a failover), then the error is transient', async () => {
    const database = createPgDatabase({
      url: pgAdminUrl,
      poolSizeMax: 1,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 5_000,
      applicationName: 'it-dlq-read-only',
    });
    try {
      const refused = await database.db
        .transaction()
        .execute(async (trx) => {
          await sql`set transaction read only`.execute(trx);
          await sql`create table it_read_only_probe (id int)`.execute(trx);
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.equal((refused as { code?: string } | undefined)?.code, '25006');
      assert.equal(isTransientInfrastructureError(refused), true);
    } finally {
      await database.close();
    }
  });

  it('when errors are classified, then connection failures are transient and constraint violations or bugs are not', () => {
    const pgUniqueViolation = Object.assign(new Error('duplicate key'), { code: '23505' });
    const pgConnectionFailure = Object.assign(new Error('server closed'), { code: '08006' });
    const wrapped = new Error('query failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }),
    });
    assert.equal(isTransientInfrastructureError(pgConnectionFailure), true);
    assert.equal(isTransientInfrastructureError(wrapped), true);
    assert.equal(isTransientInfrastructureError(new AggregateError([pgConnectionFailure])), true);
    assert.equal(isTransientInfrastructureError(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isTransientInfrastructureError(pgUniqueViolation), false);
    assert.equal(isTransientInfrastructureError(new TypeError('undefined is not a function')), false);
  });
});
