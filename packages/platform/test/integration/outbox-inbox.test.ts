import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, messageKey, newEventId, validateEvent } from '@nuri/contracts/events';
import { type Kysely, type Migration, sql } from 'kysely';
import { type Database, migrateToLatest } from '../../src/db.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { createEventConsumer, type EventConsumer } from '../../src/kafka/consumer.ts';
import { inboxMigrations, recordInbox } from '../../src/kafka/inbox.ts';
import {
  createOutboxNotifier,
  createOutboxRelay,
  enqueueOutbox,
  type OutboxDatabase,
  outboxMigrations,
} from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import {
  brokers,
  fastGroupTimings,
  openThrowawayDatabase,
  readTopic,
  silentLogger,
  uniqueName,
  waitUntil,
} from './kafka-helpers.ts';

interface CounterTable {
  name: string;
  events: string;
  amount: string;
}

type TestDb = OutboxDatabase & { counters: CounterTable; inbox: { consumer: string; event_id: string } };

const counterMigration: Migration = {
  up: async (db) => {
    await sql`create table counters (name varchar(32) primary key, events bigint not null, amount numeric(20,0) not null)`.execute(
      db,
    );
    await sql`insert into counters (name, events, amount) values ('deposits', 0, 0)`.execute(db);
  },
};

const userUuid = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';
const accounts = ['110-234-567890', '220-234-567891', '330-234-567892', '440-234-567893'];

function depositEvent(index: number): EventOf<'deposit.requested'> {
  return createEvent(
    'deposit.requested',
    {
      depositId: newEventId(),
      accountNo: accounts[index % accounts.length]!,
      userUuid,
      amount: 1_000 + index,
      requestedAt: new Date().toISOString(),
    },
    { source: 'it-outbox', correlationId: `c-${index}` },
  );
}

async function countRows(db: Kysely<TestDb>, where: 'unpublished' | 'all' | 'inbox'): Promise<number> {
  if (where === 'inbox') {
    const row = await db
      .selectFrom('inbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
  let query = db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n'));
  if (where === 'unpublished') query = query.where('published_at', 'is', null);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}

for (const dialect of ['postgres', 'mysql'] as const) {
  describe(`outbox → Kafka → inbox on ${dialect}`, { timeout: 120_000 }, () => {
    const databaseName = uniqueName(`it_outbox_${dialect === 'postgres' ? 'pg' : 'my'}`);
    const topic = uniqueName(`it.outbox.${dialect}`);
    const orderTopic = uniqueName(`it.outbox-order.${dialect}`);
    let database: Database<TestDb>;
    let drop: (() => Promise<void>) | undefined;
    const producer = createEventProducer({ brokers, clientId: `it-outbox-${dialect}` });
    const relayTiming = {
      pollIntervalMs: dialect === 'postgres' ? 500 : 50,
      errorBackoffMs: 50,
      errorBackoffMaxMs: 200,
    };
    const listenUrl =
      dialect === 'postgres' ? `postgres://postgres@127.0.0.1:5432/${databaseName}` : undefined;

    before(async () => {
      ({ database, drop } = await openThrowawayDatabase<TestDb>(dialect, databaseName, 8));
      await migrateToLatest(database.db, {
        ...outboxMigrations(dialect),
        ...inboxMigrations(dialect),
        '0001_counters': counterMigration,
      });
      await ensureTopics({
        brokers,
        topics: [
          { name: topic, partitions: 3 },
          { name: `${topic}.dlq`, partitions: 1 },
          { name: orderTopic, partitions: 2 },
        ],
      });
    });

    after(async () => {
      await producer.close();
      await deleteTopics(brokers, [topic, `${topic}.dlq`, orderTopic]);
      await drop?.();
    });

    it('when the inbox sees an id twice, then only the new ids come back', async () => {
      const [a, b, c, d] = [newEventId(), newEventId(), newEventId(), newEventId()];
      const first = await database.db.transaction().execute((trx) => recordInbox(trx, 'probe', [a!, b!, a!]));
      const second = await database.db
        .transaction()
        .execute((trx) => recordInbox(trx, 'probe', [b!, c!, d!]));
      const otherConsumer = await database.db.transaction().execute((trx) => recordInbox(trx, 'other', [a!]));
      const rolledBack = await database.db
        .transaction()
        .execute(async (trx) => {
          await recordInbox(trx, 'probe', [newEventId()]);
          throw new Error('effect failed');
        })
        .catch(() => 'rolled back');
      assert.deepEqual(first, [a, b]);
      assert.deepEqual(second, [c, d]);
      assert.deepEqual(otherConsumer, [a]);
      assert.equal(rolledBack, 'rolled back');
      assert.equal(await countRows(database.db, 'inbox'), 5);
    });

    it('when the relay crashes after publishing but before marking, then the consumer still applies each event exactly once', async () => {
      const eventsTotal = 300;
      const events = Array.from({ length: eventsTotal }, (_, index) => depositEvent(index));
      for (let start = 0; start < eventsTotal; start += 100) {
        await database.db.transaction().execute(async (trx) => {
          await enqueueOutbox(
            trx,
            events.slice(start, start + 100).map((event) => ({ topic, key: messageKey(event), event })),
            {
              validate: (_topic, event) => {
                validateEvent('deposit.requested', event);
              },
            },
          );
        });
      }
      // A business step that rolls back takes its events with it.
      const ghost = depositEvent(999);
      await database.db
        .transaction()
        .execute(async (trx) => {
          await enqueueOutbox(trx, [{ topic, key: messageKey(ghost), event: ghost }]);
          throw new Error('business rule failed');
        })
        .catch(() => {});

      let deliveries = 0;
      const seenIds = new Set<string>();
      const consumer: EventConsumer = createEventConsumer({
        brokers,
        groupId: uniqueName('g-outbox'),
        clientId: 'it-outbox-consumer',
        topics: [topic],
        validate: (_topic, value) => validateEvent('deposit.requested', value),
        dlqProducer: producer,
        logger: silentLogger,
        batchSizeMax: 100,
        ...fastGroupTimings,
        handleBatch: async (batch) => {
          deliveries += batch.length;
          for (const item of batch) seenIds.add(item.event.id);
          await database.db.transaction().execute(async (trx) => {
            const fresh = new Set(
              await recordInbox(
                trx,
                'it-deposits',
                batch.map((item) => item.event.id),
              ),
            );
            const applied = batch.filter((item) => fresh.has(item.event.id));
            if (applied.length === 0) return;
            const amount = applied.reduce((sum, item) => sum + BigInt(item.event.data.amount), 0n);
            await trx
              .updateTable('counters')
              .set((eb) => ({
                events: sql`${eb.ref('events')} + ${applied.length}`,
                amount: sql`${eb.ref('amount')} + ${amount.toString()}`,
              }))
              .where('name', '=', 'deposits')
              .execute();
          });
        },
      });
      await consumer.start();

      let crashes = 0;
      const crashingRelay = createOutboxRelay({
        db: database.db,
        producer,
        logger: silentLogger,
        ...(listenUrl === undefined ? {} : { listenUrl }),
        ...relayTiming,
        // One batch holds every row, so the crash happens after all of them reached the broker.
        batchSizeMax: 512,
        hooks: {
          afterPublish: () => {
            crashes += 1;
            throw new Error('simulated crash between publish and mark');
          },
        },
      });
      const readCounter = () =>
        database.db
          .selectFrom('counters')
          .selectAll()
          .where('name', '=', 'deposits')
          .executeTakeFirstOrThrow();
      try {
        await crashingRelay.start();
        await waitUntil(
          'every event applied from the crashing relay',
          async () => Number((await readCounter()).events) === eventsTotal,
          30_000,
        );
        await crashingRelay.stop();
        assert.ok(crashes > 0);
        assert.equal(await countRows(database.db, 'unpublished'), eventsTotal, 'nothing was deleted as sent');

        const deliveriesBeforeRestart = deliveries;
        const restartedRelay = createOutboxRelay({
          db: database.db,
          producer,
          logger: silentLogger,
          ...(listenUrl === undefined ? {} : { listenUrl }),
          ...relayTiming,
          batchSizeMax: 128,
        });
        await restartedRelay.start();
        try {
          await waitUntil(
            'all rows sent',
            async () => (await countRows(database.db, 'unpublished')) === 0,
            30_000,
          );
          assert.equal(await countRows(database.db, 'all'), 0, 'sent rows are deleted, not kept');
          await waitUntil(
            'the republished events redelivered',
            () => deliveries >= deliveriesBeforeRestart + eventsTotal,
            30_000,
          );
        } finally {
          await restartedRelay.stop();
        }
      } finally {
        await crashingRelay.stop();
        await consumer.stop();
      }

      const counter = await readCounter();
      assert.ok(deliveries >= 2 * eventsTotal, `each event was delivered at least twice (${deliveries})`);
      assert.equal(Number(counter.events), eventsTotal, 'each event applied once');
      assert.equal(
        counter.amount,
        events.reduce((sum, event) => sum + BigInt(event.data.amount), 0n).toString(),
        'amounts come back as exact strings',
      );
      assert.equal((await countRows(database.db, 'inbox')) - 5, eventsTotal);
      assert.ok(!seenIds.has(ghost.id), 'a rolled-back enqueue is never published');
    });

    it('when two relays run side by side, then each row is published once and in id order per partition', async () => {
      const events = Array.from({ length: 400 }, (_, index) => depositEvent(index));
      const relays = [1, 2].map(() =>
        createOutboxRelay({
          db: database.db,
          producer,
          logger: silentLogger,
          ...(listenUrl === undefined ? {} : { listenUrl }),
          ...relayTiming,
          batchSizeMax: 50,
        }),
      );
      await Promise.all(relays.map((relay) => relay.start()));
      try {
        for (let start = 0; start < events.length; start += 40) {
          await database.db.transaction().execute((trx) =>
            enqueueOutbox(
              trx,
              events
                .slice(start, start + 40)
                .map((event) => ({ topic: orderTopic, key: messageKey(event), event })),
            ),
          );
        }
        await waitUntil(
          'all rows sent',
          async () => (await countRows(database.db, 'unpublished')) === 0,
          30_000,
        );
      } finally {
        await Promise.all(relays.map((relay) => relay.stop()));
      }
      const messages = await readTopic(orderTopic, events.length, 30_000);
      assert.equal(messages.length, events.length, 'no duplicates without a crash');
      for (const partition of new Set(messages.map((message) => message.partition))) {
        const ids = messages
          .filter((message) => message.partition === partition)
          .map((message) => (JSON.parse(message.value) as { id: string }).id);
        assert.deepEqual(ids, [...ids].sort(), `partition ${partition} in id order`);
      }
    });

    it('when this process notifies after a commit, then the relay publishes at once instead of sleeping its poll interval, also when the notice comes mid-batch', async () => {
      const notifier = createOutboxNotifier();
      const [first, second] = [depositEvent(1), depositEvent(2)];
      const enqueue = (event: EventOf<'deposit.requested'>) =>
        database.db
          .transaction()
          .execute((trx) => enqueueOutbox(trx, [{ topic, key: messageKey(event), event }]));
      let duringBatch: Promise<void> | undefined;
      const relay = createOutboxRelay({
        db: database.db,
        producer,
        logger: silentLogger,
        notifier,
        pollIntervalMs: 600_000,
        hooks: {
          // The second row commits while the first one's batch is in hand.
          afterPublish: async () => {
            duringBatch ??= enqueue(second).then(() => notifier.notify());
            await duringBatch;
          },
        },
      });
      await relay.start();
      try {
        await waitUntil(
          'the first scan done',
          async () => (await countRows(database.db, 'unpublished')) === 0,
          10_000,
        );
        await enqueue(first);
        notifier.notify();
        await waitUntil(
          'both rows published',
          async () => (await countRows(database.db, 'unpublished')) === 0,
          10_000,
        );
      } finally {
        await relay.stop();
      }
      assert.ok(duringBatch !== undefined, 'the second row came during a batch');
    });

    it('when a row with a smaller id commits after a larger one was published, then it goes out after it: order holds per entity, not across entities sharing a key', async () => {
      const earlier = depositEvent(11); // its id is made first…
      const later = depositEvent(12);
      assert.ok(earlier.id < later.id);
      const relay = createOutboxRelay({ db: database.db, producer, logger: silentLogger, ...relayTiming });
      await relay.publishBatch(); // whatever earlier tests left
      let releaseEarlier: () => void = () => undefined;
      const holdEarlier = new Promise<void>((resolve) => {
        releaseEarlier = resolve;
      });
      // …but its transaction commits last.
      const earlierCommit = database.db.transaction().execute(async (trx) => {
        await enqueueOutbox(trx, [{ topic: orderTopic, key: 'same-account', event: earlier }]);
        await holdEarlier;
      });
      await database.db
        .transaction()
        .execute((trx) => enqueueOutbox(trx, [{ topic: orderTopic, key: 'same-account', event: later }]));
      assert.equal(await relay.publishBatch(), 1, 'only the committed row is visible');
      releaseEarlier();
      await earlierCommit;
      assert.equal(await relay.publishBatch(), 1);
      await relay.stop();
      const messages = (await readTopic(orderTopic, 402, 30_000)).filter(
        (message) => message.key === 'same-account',
      );
      assert.deepEqual(
        messages.map((message) => (JSON.parse(message.value) as { id: string }).id),
        [later.id, earlier.id],
        'published in commit order, not id order',
      );
    });

    it('when rows an older relay marked sent are past retention, then cleanup deletes them and leaves unsent ones', async () => {
      // Before relays deleted what they sent they marked it (published_at);
      // during a rolling upgrade an old instance may still do so.
      const marked = [depositEvent(1), depositEvent(2)];
      const pending = depositEvent(3);
      await database.db.transaction().execute(async (trx) => {
        await enqueueOutbox(
          trx,
          [...marked, pending].map((event) => ({ topic, key: messageKey(event), event })),
        );
        await trx
          .updateTable('outbox')
          .set({ published_at: new Date(Date.now() - 1_000) })
          .where(
            'id',
            'in',
            marked.map((event) => event.id),
          )
          .execute();
      });
      const relay = createOutboxRelay({ db: database.db, producer, logger: silentLogger, retentionMs: 0 });
      const before = await countRows(database.db, 'all');
      assert.equal(await relay.cleanup(), 2);
      assert.equal(await countRows(database.db, 'all'), before - 2);
      const left = await database.db.selectFrom('outbox').select('id').execute();
      assert.ok(
        left.some((row) => row.id === pending.id),
        'the unsent row stays',
      );
      assert.ok(!left.some((row) => marked.some((event) => event.id === row.id)));
    });
  });
}
