import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { messageKey } from '@nuri/contracts/events';
import { Registry } from 'prom-client';
import type { Database } from '../../src/db.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { createOutboxRelay, type OutboxDatabase, outboxRowOf } from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import {
  brokers,
  depositRequested,
  openOutbox,
  readTopic,
  silentLogger,
  uniqueName,
  waitUntil,
} from './kafka-helpers.ts';

// On MariaDB the relay deletes what it sent while services keep adding rows
// in transactions of their own: point's batch of payments holds its
// transaction open across up to 64 inserts, in the order its requests
// arrived, and each outbox id was made when its request did, so rows land
// between (and before) rows other batches committed. For the relay's
// DELETE … WHERE id IN (…) on a small outbox MariaDB chose to scan the whole
// table, and at REPEATABLE READ a scanning DELETE locks every row it reads
// and the gaps between them, rows inserted and not yet committed included:
// the batch waited for the relay's gap lock while the relay waited for the
// batch's row — a deadlock in one of 230–390 payments in the bench, failing
// either the relay's batch (a back-off, its rows sent twice) or the batch of
// payments. The relay now deletes by primary key (ORDER BY id LIMIT n) at
// READ COMMITTED, where it takes no gap locks, so an insert never waits for it.

/** The rows of one transaction in another order, as a batch of payments made by concurrent requests lists them. */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}

describe('an outbox relay on MariaDB beside writers holding their transactions open', {
  timeout: 120_000,
}, () => {
  const topic = uniqueName('it.outbox-writers');
  const producer = createEventProducer({ brokers, clientId: 'it-outbox-writers' });
  let opened: { database: Database<OutboxDatabase>; drop: () => Promise<void> };

  before(async () => {
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 1 }] });
    // A connection for each writer and one for the relay.
    opened = await openOutbox('mysql', 'it_outbox_writers', 5);
  });

  after(async () => {
    await opened?.drop();
    await producer.close();
    await deleteTopics(brokers, [topic]);
  });

  it('when four writers insert rows made earlier, one at a time, while the relay deletes, then no writer transaction and no relay batch fails', async () => {
    const { db } = opened.database;
    const registry = new Registry();
    const relay = createOutboxRelay({
      db,
      producer,
      logger: silentLogger,
      registry,
      batchSizeMax: 64,
      pollIntervalMs: 1,
      lingerMs: 0,
    });
    // Rows are made (ids taken) up front and handed out round robin, so a
    // writer inserts ids older than some another writer committed already,
    // and each transaction inserts its rows out of id order.
    const total = 8_000;
    const rows = Array.from({ length: total }, (_, index) => {
      const made = depositRequested(index, 'it-outbox-writers');
      return outboxRowOf({ topic, key: messageKey(made), event: made });
    });
    // Four writers, each holding a transaction open across its inserts.
    const writers = 4;
    const perTransaction = 16;
    await relay.start();
    try {
      await Promise.all(
        Array.from({ length: writers }, async (_, writer) => {
          const mine = rows.filter((_row, index) => index % writers === writer);
          for (let start = 0; start < mine.length; start += perTransaction) {
            await db.transaction().execute(async (trx) => {
              for (const row of shuffled(mine.slice(start, start + perTransaction))) {
                await trx.insertInto('outbox').values(row).execute();
              }
              await sleep(1);
            });
          }
        }),
      );
      await waitUntil(
        'every row sent and deleted',
        async () =>
          Number(
            (
              await db
                .selectFrom('outbox')
                .select((eb) => eb.fn.countAll<string>().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          ) === 0,
        60_000,
      );
    } finally {
      await relay.stop();
    }
    const value = async (name: string) =>
      (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
    assert.equal(await value('nuri_outbox_relay_failures_total'), 0, 'relay batches that failed');
    // A relay batch whose delete failed is sent again: the topic holds each row exactly once only if none did.
    const sent = await readTopic(topic, total, 30_000, 500);
    assert.equal(sent.length, total, 'messages on the topic');
    assert.equal(new Set(sent.map((message) => message.value)).size, total, 'distinct messages');
  });
});
