import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, sql } from 'kysely';
import {
  createPgDatabase,
  type Database,
  dropPgDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '../../src/db.ts';
import { uuidv7 } from '../../src/ids.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { createEventConsumer, type EventConsumer } from '../../src/kafka/consumer.ts';
import { inboxMigrations, recordInbox } from '../../src/kafka/inbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import { brokers, pgAdminUrl, silentLogger, uniqueName, waitUntil } from './kafka-helpers.ts';

// Once (2026-12-07, CI) this file's tests all passed and its process then
// never exited: a referenced timer, re-armed about every 200 ms, outlived
// every consumer's stop() and the producer's close, and held the whole run
// until its time limit. Not reproduced since (nor in three runs right
// after). So every timer's creation is traced here; a referenced one still
// pending after the teardown is reported on stderr with where it was set,
// then unreferenced so the run goes on — the next occurrence names its source.
const pendingTimers = new Map<number, { timer: NodeJS.Timeout; stack: string }>();
createHook({
  init(asyncId, type, _trigger, resource) {
    if (type !== 'Timeout') return;
    pendingTimers.set(asyncId, { timer: resource as NodeJS.Timeout, stack: new Error().stack ?? '' });
  },
  destroy(asyncId) {
    pendingTimers.delete(asyncId);
  },
}).enable();

function releaseLeakedTimers(): void {
  for (const { timer, stack } of pendingTimers.values()) {
    // The test runner's own timers are its business.
    if (!timer.hasRef() || stack.includes('node:internal/test_runner')) continue;
    process.stderr.write(`consumer-rebalance: a timer outlived the teardown; set at\n${stack}\n`);
    timer.unref();
  }
}

// Several instances of a service share a topic through one consumer group.
// When the group rebalances in the middle of a batch — because an instance
// joins, or because one is killed after applying a batch but before
// committing its offsets — the batch is delivered again to whoever owns the
// partitions now. The inbox, written in the effect's own transaction, must
// make that second delivery a no-op: each event applied exactly once.

const fixture = join(import.meta.dirname, 'fixtures', 'consumer-process.ts');
const groupTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
};

describe('consumer rebalance', { timeout: 180_000 }, () => {
  const databaseName = uniqueName('it_rebalance');
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${databaseName}`;
  let database: Database<unknown>;
  const producer = createEventProducer({ brokers, clientId: 'it-rebalance' });
  const topics: string[] = [];
  const children: ChildProcess[] = [];
  const consumers: EventConsumer[] = [];

  before(async () => {
    await ensurePgDatabase(pgAdminUrl, databaseName);
    database = createPgDatabase({
      url: databaseUrl,
      poolSizeMax: 4,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'it-rebalance',
    });
    await migrateToLatest(database.db, {
      ...inboxMigrations('postgres'),
      '0001_effects': {
        // No unique key on purpose: a second application of an event would show as a second row.
        up: async (db: Kysely<unknown>) => {
          await sql`create table effects (event_id uuid not null, applied_by varchar(16) not null)`.execute(
            db,
          );
        },
      },
    });
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const consumer of consumers) await consumer.stop();
    await producer.close();
    await deleteTopics(brokers, topics);
    await database?.close();
    await dropPgDatabase(pgAdminUrl, databaseName);
    // What the teardown left behind settles within a second, or is a leak.
    await sleep(1_000, undefined, { ref: false });
    releaseLeakedTimers();
  });

  async function newTopic(): Promise<string> {
    const topic = uniqueName('it.rebalance');
    topics.push(topic, `${topic}.dlq`);
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions: 4 },
        { name: `${topic}.dlq`, partitions: 1 },
      ],
    });
    return topic;
  }

  async function produce(topic: string, count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, () => uuidv7());
    await producer.sendRaw(
      ids.map((id, index) => ({ topic, key: `k${index % 16}`, value: JSON.stringify({ id }) })),
    );
    return ids;
  }

  function inProcessConsumer(topic: string, groupId: string, onBatch?: () => Promise<void>) {
    let deliveries = 0;
    const consumer = createEventConsumer<{ id: string }>({
      brokers,
      groupId,
      clientId: 'it-rebalance-in-process',
      topics: [topic],
      validate: (_topic, value) => value as { id: string },
      dlqProducer: producer,
      logger: silentLogger,
      batchSizeMax: 50,
      ...groupTimings,
      handleBatch: async (events) => {
        deliveries += events.length;
        await database.db.transaction().execute(async (trx) => {
          const ids = await recordInbox(
            trx,
            'it-rebalance',
            events.map((item) => item.event.id),
          );
          for (const id of ids)
            await sql`insert into effects (event_id, applied_by) values (${id}, 'parent')`.execute(trx);
        });
        await onBatch?.();
      },
    });
    consumers.push(consumer);
    return { consumer, deliveries: () => deliveries };
  }

  async function effects(ids: string[]): Promise<{ rows: number; distinct: number }> {
    const result = await sql<{ rows: string; distinct: string }>`
      select count(*) as rows, count(distinct event_id) as distinct from effects
      where event_id = any(${ids}::uuid[])`.execute(database.db);
    return { rows: Number(result.rows[0]!.rows), distinct: Number(result.rows[0]!.distinct) };
  }

  it('when a member is killed after applying a batch but before committing its offsets, then its partitions move to the survivor, which gets the batch again and applies nothing twice', async () => {
    const topic = await newTopic();
    const groupId = uniqueName('g-rebalance-kill');
    const ids = await produce(topic, 400);
    // The child joins alone, takes every partition, applies its first batch and hangs before the offset commit.
    const child = spawn(process.execPath, [fixture], {
      env: {
        ...process.env,
        CONSUMER_DB_URL: databaseUrl,
        CONSUMER_GROUP: groupId,
        CONSUMER_TOPIC: topic,
        HANG_AFTER_APPLY: 'true',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let hanging = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('hanging')) hanging = true;
    });
    await waitUntil('the child applied a batch and hangs', () => hanging, 60_000);
    const appliedByChild = Number(
      (
        await sql<{ n: string }>`select count(*) as n from effects where applied_by = 'child'`.execute(
          database.db,
        )
      ).rows[0]!.n,
    );
    assert.ok(appliedByChild > 0);

    const survivor = inProcessConsumer(topic, groupId);
    await survivor.consumer.start();
    child.kill('SIGKILL');
    await waitUntil('every event applied', async () => (await effects(ids)).distinct === ids.length, 60_000);
    await sleep(1_000);
    assert.deepEqual(
      await effects(ids),
      { rows: ids.length, distinct: ids.length },
      'each event applied once',
    );
    assert.ok(
      survivor.deliveries() >= ids.length,
      `the survivor got the killed member's uncommitted batch again (${survivor.deliveries()} deliveries for ${ids.length} events, ${appliedByChild} applied by the child)`,
    );
  });

  it('when a member joins while another is in the middle of a batch, then the group rebalances and still applies each event once', async () => {
    const topic = await newTopic();
    const groupId = uniqueName('g-rebalance-join');
    const ids = await produce(topic, 600);
    let slowBatches = 3;
    const first = inProcessConsumer(topic, groupId, async () => {
      // The first batches take longer than the join: the rebalance happens while one is in hand.
      if (slowBatches > 0) {
        slowBatches -= 1;
        await sleep(1_500);
      }
    });
    await first.consumer.start();
    await waitUntil('the first member is in a batch', () => first.deliveries() > 0, 30_000);
    const second = inProcessConsumer(topic, groupId);
    await second.consumer.start();
    await waitUntil('every event applied', async () => (await effects(ids)).distinct === ids.length, 60_000);
    await sleep(1_000);
    assert.deepEqual(await effects(ids), { rows: ids.length, distinct: ids.length });
    assert.ok(second.deliveries() > 0, 'the second member took partitions over');
  });
});
