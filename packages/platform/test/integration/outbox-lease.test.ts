import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import {
  createPgDatabase,
  type Database,
  dropPgDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '../../src/db.ts';
import { uuidv7 } from '../../src/ids.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import {
  createOutboxRelay,
  enqueueOutbox,
  type OutboxDatabase,
  outboxMigrations,
} from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import { brokers, pgAdminUrl, readTopic, silentLogger, uniqueName, waitUntil } from './kafka-helpers.ts';

// The relay that publishes holds an expiring lease. Here its holder runs in a
// process of its own and is killed (SIGKILL) or stopped (SIGSTOP) for real
// while rows keep arriving: a standby must take over within the lease, lose
// nothing, and keep per-key order (first deliveries in id order; a row whose
// publication was not yet marked may come again later, which inboxes absorb).

const leaseMs = 1_500;
const keys = ['k0', 'k1', 'k2', 'k3'];
const fixture = join(import.meta.dirname, 'fixtures', 'relay-process.ts');

describe('outbox relay lease', { timeout: 120_000 }, () => {
  const databaseName = uniqueName('it_outbox_lease');
  const topic = uniqueName('it.outbox-lease');
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${databaseName}`;
  let database: Database<OutboxDatabase>;
  const children: ChildProcess[] = [];
  const producer = createEventProducer({ brokers, clientId: 'it-outbox-lease' });
  const enqueued: Array<{ id: string; key: string }> = [];

  before(async () => {
    await ensurePgDatabase(pgAdminUrl, databaseName);
    database = createPgDatabase<OutboxDatabase>({
      url: databaseUrl,
      poolSizeMax: 4,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'it-outbox-lease',
    });
    await migrateToLatest(database.db, outboxMigrations('postgres'));
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 3 }] });
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await producer.close();
    await deleteTopics(brokers, [topic]);
    await database?.close();
    await dropPgDatabase(pgAdminUrl, databaseName);
  });

  function startRelayProcess(holderId: string): ChildProcess {
    const child = spawn(process.execPath, [fixture], {
      env: {
        ...process.env,
        RELAY_DB_URL: databaseUrl,
        RELAY_LEASE_MS: String(leaseMs),
        RELAY_HOLDER_ID: holderId,
      },
      stdio: 'ignore',
    });
    children.push(child);
    return child;
  }

  function standbyRelay(holderId: string) {
    return createOutboxRelay({
      db: database.db,
      producer,
      logger: silentLogger,
      pollIntervalMs: 20,
      batchSizeMax: 20,
      leaseMs,
      holderId,
    });
  }

  const holder = async () =>
    (await sql<{ holder: string | null }>`select holder from outbox_relay_lock`.execute(database.db)).rows[0]
      ?.holder;
  const unpublished = async () =>
    Number(
      (
        await sql<{ n: string }>`select count(*) as n from outbox where published_at is null`.execute(
          database.db,
        )
      ).rows[0]!.n,
    );

  /** Commits rows (one per key, in one transaction) until told to stop. */
  function keepEnqueuing(): { stop: () => Promise<void> } {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const batch = keys.map((key) => ({ id: uuidv7(), key }));
        await database.db.transaction().execute((trx) =>
          enqueueOutbox(
            trx,
            batch.map((row) => ({ topic, key: row.key, event: { id: row.id } })),
          ),
        );
        enqueued.push(...batch);
        await sleep(25);
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }

  async function assertAllPublishedInOrder(): Promise<void> {
    await waitUntil('every row published', async () => (await unpublished()) === 0, 30_000);
    const messages = await readTopic(topic, enqueued.length, 30_000, 500);
    const firstSeen = new Map<string, string[]>();
    const seen = new Set<string>();
    const sorted = [...messages].sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
    for (const message of sorted) {
      const id = (JSON.parse(message.value) as { id: string }).id;
      if (seen.has(id)) continue;
      seen.add(id);
      const list = firstSeen.get(message.key) ?? [];
      list.push(id);
      firstSeen.set(message.key, list);
    }
    for (const row of enqueued) assert.ok(seen.has(row.id), `row ${row.id} was published`);
    for (const [key, ids] of firstSeen) assert.deepEqual(ids, [...ids].sort(), `key ${key} in id order`);
  }

  it('when the holder is killed mid-stream, then a standby takes over within the lease and nothing is lost or reordered', async () => {
    startRelayProcess('process-a');
    await waitUntil('process-a holds the lease', async () => (await holder()) === 'process-a', 20_000);
    const writer = keepEnqueuing();
    const standby = standbyRelay('standby-b');
    try {
      await waitUntil(
        'process-a publishing',
        async () => enqueued.length > 80 && (await unpublished()) < 40,
        20_000,
      );
      await standby.start();
      await sleep(300);
      assert.equal(await holder(), 'process-a', 'the standby waits while the holder renews');
      children.at(-1)!.kill('SIGKILL');
      const killedAt = Date.now();
      await waitUntil('standby-b takes over', async () => (await holder()) === 'standby-b', 10_000);
      const takeoverMs = Date.now() - killedAt;
      assert.ok(takeoverMs <= leaseMs + 1_500, `took over after ${takeoverMs} ms`);
      await sleep(500);
    } finally {
      await writer.stop();
    }
    await assertAllPublishedInOrder();
    await standby.stop();
    assert.equal(await holder(), null, 'released on a clean stop');
  });

  it('when the holder hangs (SIGSTOP), then its lease expires and a standby takes over; it is not held forever', async () => {
    const hung = startRelayProcess('process-c');
    await waitUntil('process-c holds the lease', async () => (await holder()) === 'process-c', 20_000);
    const writer = keepEnqueuing();
    const standby = standbyRelay('standby-d');
    try {
      await standby.start();
      await sleep(300);
      hung.kill('SIGSTOP');
      const stoppedAt = Date.now();
      await waitUntil('standby-d takes over', async () => (await holder()) === 'standby-d', 10_000);
      const takeoverMs = Date.now() - stoppedAt;
      assert.ok(takeoverMs <= leaseMs + 1_500, `took over after ${takeoverMs} ms`);
      await sleep(500);
    } finally {
      await writer.stop();
      // Never resumed: a paused relay that woke up could still send its last batch again (a duplicate).
      hung.kill('SIGKILL');
    }
    await assertAllPublishedInOrder();
    await standby.stop();
  });
});
