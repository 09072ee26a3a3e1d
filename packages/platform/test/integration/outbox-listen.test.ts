import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { migrateToLatest } from '../../src/db.ts';
import { uuidv7 } from '../../src/ids.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import {
  createOutboxRelay,
  enqueueOutbox,
  type OutboxDatabase,
  outboxMigrations,
} from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import {
  brokers,
  openThrowawayDatabase,
  silentLogger,
  startTcpRelay,
  type TcpRelay,
  uniqueName,
  waitUntil,
} from './kafka-helpers.ts';

// PostgreSQL's relay is woken by LISTEN/NOTIFY and polls only as a fallback
// (once a second in core-payment). Its LISTEN connection, once lost, was
// opened again once: if that one attempt failed (the server still away), it
// was never tried again, and every row waited for the next poll for as long
// as the process lived (a review found it, 2026-12-07). Here the LISTEN
// connection goes through a TCP relay that is cut, then refuses, then lets
// it through again; the fallback poll is a minute, so only LISTEN can
// publish a row within seconds.

describe('an outbox relay whose LISTEN connection is lost', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.outbox-listen');
  const databaseName = uniqueName('it_outbox_listen').replaceAll('-', '_').replaceAll('.', '_');
  const producer = createEventProducer({ brokers, clientId: 'it-outbox-listen' });
  let opened: Awaited<ReturnType<typeof openThrowawayDatabase<OutboxDatabase>>> | undefined;
  let tcp: TcpRelay | undefined;

  before(async () => {
    opened = await openThrowawayDatabase<OutboxDatabase>('postgres', databaseName, 4);
    await migrateToLatest(opened.database.db, outboxMigrations('postgres'));
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 1 }] });
    tcp = await startTcpRelay('127.0.0.1:5432');
  });

  after(async () => {
    await tcp?.close();
    await producer.close();
    await opened?.drop();
    await deleteTopics(brokers, [topic]);
  });

  it('when the server refuses its reconnects for a while, then it keeps trying and LISTEN wakes the relay again once it is back', async () => {
    const db = opened!.database.db;
    const unpublished = async () =>
      Number(
        (await sql<{ count: string }>`select count(*) as count from outbox`.execute(db)).rows[0]?.count ?? 0,
      );
    const write = () =>
      db.transaction().execute((trx) => enqueueOutbox(trx, [{ topic, key: 'k', event: { id: uuidv7() } }]));
    const relay = createOutboxRelay({
      db,
      producer,
      logger: silentLogger,
      listenUrl: `postgres://postgres@127.0.0.1:${tcp!.port}/${databaseName}`,
      // Only a notification publishes within the test's waits.
      pollIntervalMs: 60_000,
      idlePollMaxMs: 60_000,
      errorBackoffMs: 50,
      errorBackoffMaxMs: 200,
      lingerMs: 0,
    });
    await relay.start();
    try {
      // Idle first: the relay's first scan has run and it waits a minute for the next.
      await sleep(500);
      await write();
      await waitUntil('a row published on its notification', async () => (await unpublished()) === 0, 5_000);
      // Cut, and refused through several reconnect attempts (every 200 ms).
      tcp!.refuse();
      await sleep(1_500);
      const acceptedBefore = tcp!.accepted();
      tcp!.pass();
      await waitUntil('the LISTEN connection back', () => tcp!.accepted() > acceptedBefore, 5_000);
      // Listening, not only connected: a notification before its LISTEN would reach no one.
      await waitUntil(
        'the relay listening again',
        async () =>
          Number(
            (
              await sql<{ count: string }>`select count(*) as count from pg_stat_activity
                where datname = ${databaseName} and query ilike 'listen %' and state = 'idle'`.execute(db)
            ).rows[0]?.count ?? 0,
          ) > 0,
        5_000,
      );
      await write();
      await waitUntil(
        'a row published on its notification again',
        async () => (await unpublished()) === 0,
        5_000,
      );
    } finally {
      await relay.stop();
    }
    assert.equal(await unpublished(), 0);
  });
});
