// Outbox relay throughput: N events are written to an outbox table, then the
// relay publishes them to Kafka while an inbox consumer applies them (inbox row
// + counter update in one transaction, as services do). Reports events/s
// table→broker (acked) and end to end (committed in the inbox), per run and as
// median/min/max over the runs.
//
//   node bench/outbox-relay.ts [--events 100000] [--runs 3] [--dialect postgres|mysql|both]
//                              [--relay-batch 2000] [--consumer-batch 2000] [--partitions 6]
import { parseArgs } from 'node:util';
import { createEvent, messageKey, newEventId, validateEvent } from '@nuri/contracts/events';
import {
  createMysqlDatabase,
  createPgDatabase,
  type Database,
  type DatabaseDialect,
  dropMysqlDatabase,
  dropPgDatabase,
  ensureMysqlDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventConsumer } from '@nuri/platform/kafka/consumer';
import { inboxMigrations, recordInbox } from '@nuri/platform/kafka/inbox';
import {
  createOutboxRelay,
  enqueueOutbox,
  type OutboxDatabase,
  outboxMigrations,
} from '@nuri/platform/kafka/outbox';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import { sql } from 'kysely';
import { pino } from 'pino';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    dialect: { type: 'string', default: 'postgres' },
    'relay-batch': { type: 'string', default: '2000' },
    'consumer-batch': { type: 'string', default: '2000' },
    'insert-batch': { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '6' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'pg-admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'mysql-admin-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306/' },
    'timeout-ms': { type: 'string', default: '600000' },
  },
});

const eventsTotal = Number(args.events);
const runsTotal = Number(args.runs);
const relayBatchSizeMax = Number(args['relay-batch']);
const consumerBatchSizeMax = Number(args['consumer-batch']);
const insertBatchSizeMax = Number(args['insert-batch']);
const partitions = Number(args.partitions);
const brokers = args.brokers.split(',');
const runTimeoutMs = Number(args['timeout-ms']);
const logger = pino({ level: 'warn' });

type BenchDb = OutboxDatabase & { counters: { name: string; events: string } };

interface RunResult {
  insertPerSecond: number;
  brokerPerSecond: number;
  endToEndPerSecond: number;
}

const accounts = Array.from({ length: 1000 }, (_, index) => `110-${String(index).padStart(3, '0')}-000001`);
const userUuid = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';

function openDatabase(dialect: DatabaseDialect, name: string): Database<BenchDb> {
  const url = databaseUrl(dialect, name);
  return dialect === 'postgres'
    ? createPgDatabase<BenchDb>({
        url,
        poolSizeMax: 8,
        connectionTimeoutMs: 5_000,
        statementTimeoutMs: 60_000,
        applicationName: 'bench-outbox',
      })
    : createMysqlDatabase<BenchDb>({
        url,
        poolSizeMax: 8,
        connectTimeoutMs: 5_000,
        statementTimeoutMs: 60_000,
      });
}

/** Counts acked messages so table→broker time is measured at the broker's ack, not at the mark. */
function countingProducer(inner: EventProducer, onAcked: (count: number) => void): EventProducer {
  return {
    sendEvents: (events) => inner.sendEvents(events),
    sendRaw: async (messages) => {
      await inner.sendRaw(messages);
      onAcked(messages.length);
    },
    get inFlight() {
      return inner.inFlight;
    },
    close: () => inner.close(),
  };
}

async function runOnce(dialect: DatabaseDialect, run: number): Promise<RunResult> {
  const suffix = `${Date.now().toString(36)}_${run}`;
  const databaseName = `bench_outbox_${dialect === 'postgres' ? 'pg' : 'my'}_${suffix}`;
  const topic = `bench.outbox.${dialect}.${suffix}`;
  const adminUrl = dialect === 'postgres' ? args['pg-admin-url'] : args['mysql-admin-url'];
  await (dialect === 'postgres'
    ? ensurePgDatabase(adminUrl, databaseName)
    : ensureMysqlDatabase(adminUrl, databaseName));
  const database = openDatabase(dialect, databaseName);
  const producer = createEventProducer({ brokers, clientId: `bench-relay-${run}`, inFlightMax: 5 });
  const dlqProducer = createEventProducer({ brokers, clientId: `bench-dlq-${run}` });
  try {
    await migrateToLatest(database.db, {
      ...outboxMigrations(dialect),
      ...inboxMigrations(dialect),
      '0001_counters': {
        up: async (db) => {
          await sql`create table counters (name varchar(32) primary key, events bigint not null)`.execute(db);
          await sql`insert into counters (name, events) values ('n', 0)`.execute(db);
        },
      },
    });
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions },
        { name: `${topic}.dlq`, partitions: 1 },
      ],
    });

    const insertStartedAt = performance.now();
    for (let start = 0; start < eventsTotal; start += insertBatchSizeMax) {
      const count = Math.min(insertBatchSizeMax, eventsTotal - start);
      const messages = Array.from({ length: count }, (_, offset) => {
        const event = createEvent(
          'deposit.requested',
          {
            depositId: newEventId(),
            accountNo: accounts[(start + offset) % accounts.length]!,
            userUuid,
            amount: 1 + ((start + offset) % 100_000),
            requestedAt: new Date().toISOString(),
          },
          { source: 'bench', correlationId: `bench-${start + offset}` },
        );
        return { topic, key: messageKey(event), event };
      });
      await database.db.transaction().execute((trx) => enqueueOutbox(trx, messages));
    }
    const insertSeconds = (performance.now() - insertStartedAt) / 1000;

    let applied = 0;
    let acked = 0;
    let relayStartedAt = 0;
    let brokerDoneAt = 0;
    let endToEndDoneAt = 0;
    const consumer = createEventConsumer({
      brokers,
      groupId: `bench-${suffix}`,
      clientId: `bench-consumer-${run}`,
      topics: [topic],
      validate: (_topic, value) => validateEvent('deposit.requested', value),
      dlqProducer,
      logger,
      batchSizeMax: consumerBatchSizeMax,
      fetchWaitMs: 50,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      rebalanceTimeoutMs: 6_000,
      lagIntervalMs: 0,
      handleBatch: async (batch) => {
        const fresh = await database.db.transaction().execute(async (trx) => {
          const ids = await recordInbox(
            trx,
            'bench',
            batch.map((item) => item.event.id),
          );
          if (ids.length > 0) {
            await trx
              .updateTable('counters')
              .set((eb) => ({ events: sql`${eb.ref('events')} + ${ids.length}` }))
              .where('name', '=', 'n')
              .execute();
          }
          return ids.length;
        });
        applied += fresh;
        if (applied >= eventsTotal && endToEndDoneAt === 0) endToEndDoneAt = performance.now();
      },
    });
    await consumer.start();

    const relay = createOutboxRelay({
      db: database.db,
      producer: countingProducer(producer, (count) => {
        acked += count;
        if (acked >= eventsTotal && brokerDoneAt === 0) brokerDoneAt = performance.now();
      }),
      logger,
      batchSizeMax: relayBatchSizeMax,
      ...(dialect === 'postgres' ? { listenUrl: databaseUrl(dialect, databaseName) } : {}),
    });
    relayStartedAt = performance.now();
    await relay.start();
    const deadline = Date.now() + runTimeoutMs;
    while (endToEndDoneAt === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await relay.stop();
    await consumer.stop();
    if (endToEndDoneAt === 0) throw new Error(`run ${run} timed out: ${acked} acked, ${applied} applied`);

    const counter = await database.db.selectFrom('counters').select('events').executeTakeFirstOrThrow();
    if (Number(counter.events) !== eventsTotal) throw new Error(`counter ${counter.events} ≠ ${eventsTotal}`);
    return {
      insertPerSecond: eventsTotal / insertSeconds,
      brokerPerSecond: eventsTotal / ((brokerDoneAt - relayStartedAt) / 1000),
      endToEndPerSecond: eventsTotal / ((endToEndDoneAt - relayStartedAt) / 1000),
    };
  } finally {
    await producer.close();
    await dlqProducer.close();
    await deleteTopics(brokers, [topic, `${topic}.dlq`]);
    await database.close();
    await (dialect === 'postgres'
      ? dropPgDatabase(adminUrl, databaseName)
      : dropMysqlDatabase(adminUrl, databaseName));
  }
}

function databaseUrl(dialect: DatabaseDialect, name: string): string {
  return dialect === 'postgres'
    ? args['pg-admin-url'].replace(/\/[^/]*$/, `/${name}`)
    : `${args['mysql-admin-url'].replace(/\/$/, '')}/${name}`;
}

function summarise(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const format = (value: number) => Math.round(value).toLocaleString('en-US');
  return `median ${format(median)}/s (min ${format(sorted[0]!)}, max ${format(sorted.at(-1)!)})`;
}

const dialects: DatabaseDialect[] =
  args.dialect === 'both' ? ['postgres', 'mysql'] : [args.dialect as DatabaseDialect];
for (const dialect of dialects) {
  const results: RunResult[] = [];
  for (let run = 1; run <= runsTotal; run += 1) {
    const result = await runOnce(dialect, run);
    results.push(result);
    console.log(
      `${dialect} run ${run}: insert ${Math.round(result.insertPerSecond)}/s, table→broker ${Math.round(result.brokerPerSecond)}/s, end-to-end ${Math.round(result.endToEndPerSecond)}/s`,
    );
  }
  console.log(`${dialect} ${eventsTotal} events × ${runsTotal} runs`);
  console.log(`  insert       ${summarise(results.map((result) => result.insertPerSecond))}`);
  console.log(`  table→broker ${summarise(results.map((result) => result.brokerPerSecond))}`);
  console.log(`  end-to-end   ${summarise(results.map((result) => result.endToEndPerSecond))}`);
}
