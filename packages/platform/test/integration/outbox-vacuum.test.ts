import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { messageKey } from '@nuri/contracts/events';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import type { Database } from '../../src/db.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { createOutboxRelay, enqueueOutbox, type OutboxDatabase } from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import {
  brokers,
  depositRequested,
  openOutbox,
  silentLogger,
  uniqueName,
  waitUntil,
} from './kafka-helpers.ts';

// The relay deletes what it sent. On PostgreSQL each deleted row leaves a
// dead entry at the front of the index the relay reads in id order, until a
// VACUUM; autovacuum comes about once a minute, so the relay that deletes
// vacuums the outbox itself once enough rows went.

/** VACUUMs of the outbox run by a client (autovacuum's are counted apart), from PostgreSQL's statistics. */
async function manualVacuums(database: Database<OutboxDatabase>): Promise<number> {
  // Statistics reach the shared counters when a backend goes idle: ask for a fresh snapshot.
  await sql`select pg_stat_clear_snapshot()`.execute(database.db);
  const result = await sql<{ vacuum_count: string }>`
    select vacuum_count from pg_stat_user_tables where relname = 'outbox'`.execute(database.db);
  return Number(result.rows[0]?.vacuum_count ?? 0);
}

describe('an outbox relay on PostgreSQL clearing what it deleted', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.outbox-vacuum');
  const producer = createEventProducer({ brokers, clientId: 'it-outbox-vacuum' });
  const databases: Array<{ database: Database<OutboxDatabase>; drop: () => Promise<void> }> = [];

  before(async () => {
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 1 }] });
  });

  after(async () => {
    for (const { drop } of databases) await drop();
    await producer.close();
    await deleteTopics(brokers, [topic]);
  });

  async function sendThrough(vacuumAfterRows: number) {
    const opened = await openOutbox('postgres', 'it_outbox_vacuum');
    databases.push(opened);
    const { database } = opened;
    for (let batch = 0; batch < 4; batch += 1) {
      const events = Array.from({ length: 50 }, (_, index) =>
        depositRequested(batch * 50 + index, 'it-outbox-vacuum'),
      );
      await database.db.transaction().execute((trx) =>
        enqueueOutbox(
          trx,
          events.map((event) => ({ topic, key: messageKey(event), event })),
        ),
      );
    }
    const registry = new Registry();
    const relay = createOutboxRelay({
      db: database.db,
      producer,
      logger: silentLogger,
      registry,
      batchSizeMax: 60,
      pollIntervalMs: 20,
      vacuumAfterRows,
      vacuumIntervalMs: 0,
    });
    await relay.start();
    try {
      await waitUntil(
        'every row sent and deleted',
        async () =>
          Number(
            (
              await database.db
                .selectFrom('outbox')
                .select((eb) => eb.fn.countAll<string>().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          ) === 0,
        30_000,
      );
    } finally {
      await relay.stop();
    }
    const metric = await registry.getSingleMetric('nuri_outbox_vacuums_total')?.get();
    return { database, metricVacuums: metric?.values[0]?.value ?? 0 };
  }

  it('when the relay has deleted enough rows and reached the tail, then it VACUUMs the outbox once, and counts it', async () => {
    // 200 rows in batches of 60, 60, 60, 20 with a threshold of 50: past it
    // after the first batch already, but a full batch means a backlog
    // drains, so the one VACUUM comes after the fourth, at the tail.
    const { database, metricVacuums } = await sendThrough(50);
    assert.equal(metricVacuums, 1);
    await waitUntil(
      'PostgreSQL counts the VACUUM',
      async () => (await manualVacuums(database)) === 1,
      10_000,
    );
  });

  it('when vacuuming is off, then the relay leaves it to autovacuum', async () => {
    const { database, metricVacuums } = await sendThrough(0);
    assert.equal(metricVacuums, 0);
    assert.equal(await manualVacuums(database), 0);
  });
});
