import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../../src/db.ts';
import { uuidv7 } from '../../src/ids.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { createEventConsumer } from '../../src/kafka/consumer.ts';
import {
  createOutboxNotifier,
  createOutboxRelay,
  enqueueOutbox,
  type OutboxDatabase,
  type OutboxRelay,
} from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import {
  brokers,
  fastGroupTimings,
  openOutbox,
  readTopic,
  silentLogger,
  uniqueName,
  waitUntil,
} from './kafka-helpers.ts';

// Each consumer batch costs a transaction, its commit and an offset commit,
// and each relay pass a read, a produce and a mark, whatever their size: at a
// moderate rate, one event each. Both now wait a few milliseconds after the
// first arrival for more to join, and never when a batch is already full.

describe('a consumer lingering for a fuller batch', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.linger');
  // The full-batch test reads a topic of its own: a new group starts from the earliest offset.
  const fullTopic = uniqueName('it.linger-full');
  const producer = createEventProducer({ brokers, clientId: 'it-linger' });

  before(async () => {
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions: 1 },
        { name: `${topic}.dlq`, partitions: 1 },
        { name: fullTopic, partitions: 1 },
      ],
    });
  });

  after(async () => {
    await producer.close();
    await deleteTopics(brokers, [topic, `${topic}.dlq`, fullTopic]);
  });

  const send = (id: string) => producer.sendRaw([{ topic, key: 'k', value: JSON.stringify({ id }) }]);

  function consumerWith(batchLingerMs: number, batchSizeMax: number, batches: string[][], from = topic) {
    return createEventConsumer<{ id: string }>({
      brokers,
      groupId: uniqueName('g-linger'),
      clientId: 'it-linger-consumer',
      topics: [from],
      validate: (_topic, value) => value as { id: string },
      handleBatch: async (batch) => {
        batches.push(batch.map(({ event }) => event.id));
      },
      dlqProducer: producer,
      logger: silentLogger,
      batchSizeMax,
      batchLingerMs,
      ...fastGroupTimings,
    });
  }

  it('when a second event follows the first within the linger, then both are handled in one batch; without a linger, in two', async () => {
    for (const [lingerMs, expectedBatches] of [
      [1_500, 1],
      [0, 2],
    ] as const) {
      const batches: string[][] = [];
      const consumer = consumerWith(lingerMs, 500, batches);
      await consumer.start();
      try {
        // Joined and caught up with what earlier rounds sent: an event of its own comes back alone.
        const marker = uuidv7();
        await send(marker);
        await waitUntil('the marker', () => batches.flat().includes(marker), 30_000);
        await sleep(lingerMs + 200);
        batches.length = 0;
        const first = uuidv7();
        const second = uuidv7();
        await send(first);
        await sleep(300);
        await send(second);
        await waitUntil('both events', () => batches.flat().includes(second), 10_000);
        assert.equal(batches.length, expectedBatches, `linger ${lingerMs} ms: ${JSON.stringify(batches)}`);
        assert.deepEqual(batches.flat(), [first, second]);
      } finally {
        await consumer.stop();
      }
    }
  });

  it('when one batch carries the same event id twice, then the handler sees its first copy only', async () => {
    const batches: string[][] = [];
    const consumer = consumerWith(1_500, 500, batches);
    await consumer.start();
    try {
      const marker = uuidv7();
      await send(marker);
      await waitUntil('the marker', () => batches.flat().includes(marker), 30_000);
      batches.length = 0;
      const twice = uuidv7();
      const last = uuidv7();
      // One produce request: the three reach the log, and then the consumer, together.
      await producer.sendRaw(
        [twice, twice, last].map((id) => ({ topic, key: 'k', value: JSON.stringify({ id }) })),
      );
      await waitUntil('the last event', () => batches.flat().includes(last), 10_000);
      assert.deepEqual(batches, [[twice, last]]);
    } finally {
      await consumer.stop();
    }
  });

  it('when a batch is already full, then it is handled without waiting for the linger', async () => {
    const batches: string[][] = [];
    const consumer = consumerWith(20_000, 2, batches, fullTopic);
    await consumer.start();
    try {
      const ids = [uuidv7(), uuidv7()];
      const sentAt = Date.now();
      await producer.sendRaw(
        ids.map((id) => ({ topic: fullTopic, key: 'k', value: JSON.stringify({ id }) })),
      );
      await waitUntil('the full batch', () => batches.flat().includes(ids[1]!), 10_000);
      assert.ok(Date.now() - sentAt < 5_000, `a full batch waited ${Date.now() - sentAt} ms`);
    } finally {
      await consumer.stop();
    }
  });
});

describe('an outbox relay lingering for more commits', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.outbox-linger');
  const producer = createEventProducer({ brokers, clientId: 'it-outbox-linger' });
  const notifier = createOutboxNotifier();
  let database: Database<OutboxDatabase>;
  let drop: (() => Promise<void>) | undefined;
  let relay: OutboxRelay | undefined;

  before(async () => {
    ({ database, drop } = await openOutbox('mysql', 'it_outbox_linger'));
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 1 }] });
  });

  after(async () => {
    await relay?.stop();
    await producer.close();
    await deleteTopics(brokers, [topic]);
    await drop?.();
  });

  async function enqueue(): Promise<string> {
    const id = uuidv7();
    await database.db
      .transaction()
      .execute((trx) => enqueueOutbox(trx, [{ topic, key: 'k', event: { id } }]));
    notifier.notify();
    return id;
  }

  it('when commits are notified within the linger, then they are published in one pass, still well within a second', async () => {
    const passes: string[][] = [];
    relay = createOutboxRelay({
      db: database.db,
      producer,
      logger: silentLogger,
      notifier,
      pollIntervalMs: 5_000,
      lingerMs: 400,
      hooks: {
        afterPublish: async (ids) => {
          passes.push([...ids]);
        },
      },
    });
    await relay.start();
    await sleep(300);
    passes.length = 0;
    const startedAt = Date.now();
    const first = await enqueue();
    await sleep(100);
    const second = await enqueue();
    await sleep(100);
    const third = await enqueue();
    await waitUntil('three published', () => passes.flat().length >= 3, 5_000);
    const latency = Date.now() - startedAt;
    assert.deepEqual(passes, [[first, second, third]]);
    assert.ok(latency < 1_000, `published ${latency} ms after the first commit`);
    const messages = await readTopic(topic, 3, 10_000);
    assert.deepEqual(
      messages.map((message) => JSON.parse(message.value).id),
      [first, second, third],
    );
  });
});
