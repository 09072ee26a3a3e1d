import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, messageKey, newEventId, validateEvent } from '@nuri/contracts/events';
import { Registry } from 'prom-client';
import { deleteTopics, ensureTopics, waitForBroker } from '../../src/kafka/admin.ts';
import { type ConsumedEvent, createEventConsumer } from '../../src/kafka/consumer.ts';
import {
  chunksWithin,
  createEventProducer,
  ProducerBusyError,
  Semaphore,
  sendBytesMax,
} from '../../src/kafka/producer.ts';
import { readTopicUntil } from '../../src/testing.ts';
import { brokers, fastGroupTimings, silentLogger, uniqueName, waitUntil } from './kafka-helpers.ts';

const accountNo = '110-234-567890';
const userUuid = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';

describe('kafka produce/consume round trip', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.roundtrip');
  const producer = createEventProducer({
    brokers,
    clientId: 'it-roundtrip',
    validate: (topicName, event) => {
      validateEvent('deposit.requested', event);
      assert.ok(topicName.length > 0);
    },
  });

  before(async () => {
    await waitForBroker(brokers, 10_000);
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions: 3 },
        { name: `${topic}.dlq`, partitions: 1 },
      ],
    });
  });

  after(async () => {
    await producer.close();
    await deleteTopics(brokers, [topic, `${topic}.dlq`]);
  });

  it('when ensureTopics runs again for existing topics, then it succeeds and creates nothing', async () => {
    const created = await ensureTopics({ brokers, topics: [{ name: topic, partitions: 3 }] });
    assert.deepEqual(created, []);
  });

  it('when events are produced, then a consumer group receives each one in per-key order with metrics', async () => {
    const registry = new Registry();
    const events = Array.from({ length: 200 }, (_, index) =>
      createEvent(
        'deposit.requested',
        {
          depositId: newEventId(),
          accountNo: index % 2 === 0 ? accountNo : '220-234-567891',
          userUuid,
          amount: index + 1,
          requestedAt: new Date().toISOString(),
        },
        { source: 'it', correlationId: `c-${index}` },
      ),
    );
    await producer.sendEvents(events.map((event) => ({ topic, key: messageKey(event), event })));

    const received: ConsumedEvent<EventOf<'deposit.requested'>>[] = [];
    let batches = 0;
    const consumer = createEventConsumer({
      brokers,
      groupId: uniqueName('g-roundtrip'),
      clientId: 'it-roundtrip-consumer',
      topics: [topic],
      validate: (_topic, value) => validateEvent('deposit.requested', value),
      handleBatch: async (batch) => {
        batches += 1;
        received.push(...batch);
      },
      dlqProducer: producer,
      logger: silentLogger,
      registry,
      ...fastGroupTimings,
      lagIntervalMs: 200,
    });
    await consumer.start();
    try {
      await waitUntil('all 200 events', () => received.length >= 200, 30_000);
      await waitUntil(
        'lag measured as zero once everything is committed',
        async () => /nuri_kafka_consumer_lag\{[^}]*partition="0"[^}]*\} 0/.test(await registry.metrics()),
        10_000,
      );
    } finally {
      await consumer.stop();
    }

    assert.equal(received.length, 200);
    assert.ok(batches < 200, 'events arrive in batches, not one by one');
    assert.deepEqual(
      new Set(received.map((item) => item.event.id)),
      new Set(events.map((event) => event.id)),
    );
    for (const account of [accountNo, '220-234-567891']) {
      const sent = events.filter((event) => event.data.accountNo === account).map((event) => event.id);
      const got = received.filter((item) => item.key === account).map((item) => item.event.id);
      assert.deepEqual(got, sent, `order for key ${account}`);
    }
    const metrics = await registry.metrics();
    assert.match(metrics, /nuri_kafka_messages_consumed_total\{[^}]*\} 200/);
  });

  it('when a group restarts after committing, then it does not see the old events again', async () => {
    const groupId = uniqueName('g-restart');
    const seen: string[] = [];
    const makeConsumer = () =>
      createEventConsumer({
        brokers,
        groupId,
        clientId: 'it-restart',
        topics: [topic],
        validate: (_topic, value) => validateEvent('deposit.requested', value),
        handleBatch: async (batch) => {
          seen.push(...batch.map((item) => item.event.id));
        },
        dlqProducer: producer,
        logger: silentLogger,
        ...fastGroupTimings,
      });
    const first = makeConsumer();
    await first.start();
    await waitUntil('first pass', () => seen.length >= 200, 30_000);
    await first.stop();

    const fresh = createEvent(
      'deposit.requested',
      { depositId: newEventId(), accountNo, userUuid, amount: 7, requestedAt: new Date().toISOString() },
      { source: 'it', correlationId: 'late' },
    );
    await producer.sendEvents([{ topic, key: accountNo, event: fresh }]);
    const second = makeConsumer();
    await second.start();
    await waitUntil('the new event', () => seen.includes(fresh.id), 30_000);
    await second.stop();
    assert.equal(seen.length, 201);
  });

  it('when the producer validation hook refuses an event, then nothing is sent and the error surfaces', async () => {
    await assert.rejects(
      producer.sendEvents([{ topic, key: accountNo, event: { id: 'not-an-event' } }]),
      /invalid deposit.requested event/,
    );
  });

  it('when one send holds more than the broker takes in a batch (5,000 events of one key, ~1.8 MB), then it goes as several requests and every event arrives, in order', async () => {
    const events = Array.from({ length: 5_000 }, (_, index) =>
      createEvent(
        'deposit.requested',
        {
          depositId: newEventId(),
          accountNo,
          userUuid,
          amount: index + 1,
          requestedAt: new Date().toISOString(),
        },
        { source: 'it', correlationId: `large-${index}` },
      ),
    );
    const messages = events.map((event) => ({ topic, key: accountNo, value: JSON.stringify(event) }));
    const bytes = messages.reduce((sum, message) => sum + message.value.length, 0);
    assert.ok(bytes > 1.5 * 1024 * 1024, `${bytes} bytes: more than a batch the broker takes (1 MiB)`);
    await producer.sendRaw(messages);
    const isLarge = (message: { value: string }) => message.value.includes('"correlationId":"large-');
    const received = (
      await readTopicUntil(
        brokers,
        topic,
        'the 5,000 events',
        (got) => got.filter(isLarge).length >= messages.length,
        30_000,
      )
    ).filter(isLarge);
    assert.deepEqual(
      received.map(
        (message) => (JSON.parse(String(message.value)) as { correlationId: string }).correlationId,
      ),
      events.map((event) => event.correlationId),
    );
  });

  it('when messages are cut to a byte budget, then the runs keep their order, stay within it, and a larger message goes alone', () => {
    const message = (size: number) => ({ topic: 't', key: 'k', value: 'x'.repeat(size) });
    const messages = [message(400), message(400), message(400), message(2_000), message(100)];
    const runs = chunksWithin(messages, 1_000);
    assert.deepEqual(
      runs.map((run) => run.map((item) => item.value.length)),
      [[400, 400], [400], [2_000], [100]],
    );
    assert.deepEqual(runs.flat(), messages);
    assert.deepEqual(chunksWithin([message(10)], 1), [[message(10)]]);
    assert.ok(sendBytesMax < 1024 * 1024, "under the broker's default message.max.bytes");
  });

  it('when every in-flight slot stays taken past the wait limit, then acquiring fails instead of queueing', async () => {
    const semaphore = new Semaphore(1, 10);
    assert.equal(await semaphore.acquire(10), true);
    assert.equal(await semaphore.acquire(20), false);
    semaphore.release();
    assert.equal(await semaphore.acquire(10), true);
    const busy = createEventProducer({
      brokers,
      clientId: 'busy',
      inFlightMax: 1,
      acquireTimeoutMs: 1,
      waitersMax: 0,
    });
    const event = createEvent(
      'deposit.requested',
      { depositId: newEventId(), accountNo, userUuid, amount: 1, requestedAt: new Date().toISOString() },
      { source: 'it', correlationId: 'busy' },
    );
    const sends = [1, 2, 3].map(() => busy.sendEvents([{ topic, key: accountNo, event }]));
    const outcomes = await Promise.allSettled(sends);
    await busy.close();
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    for (const outcome of outcomes.filter((item) => item.status === 'rejected')) {
      assert.ok(outcome.reason instanceof ProducerBusyError);
    }
  });
});
