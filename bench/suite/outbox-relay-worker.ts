// The outbox-relay-* scenarios' system under test, a child process of the
// suite (so that machine.ts counts its CPU as the "outbox relay" group, not
// as the suite's): the platform's outbox relay publishing a table of events
// to Kafka, and an inbox consumer applying them (inbox row + counter update
// in one transaction, as the services do), on a throwaway database and topic.
//
// The suite sends a spec; the worker writes the events to the outbox (timed,
// before the measured window) and says `inserted`; on `relay` it starts the
// consumer and the relay and says `relayed` as soon as the last event is
// applied (the end of the window); then it stops, checks the database, cleans
// up and says `checked`.
import { setTimeout as sleep } from 'node:timers/promises';
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
import { databaseUrl } from '@nuri/platform/service';
import { sql } from 'kysely';
import { pino } from 'pino';

export interface OutboxRelaySpec {
  dialect: DatabaseDialect;
  /** The server's URL (any database): the run's own database is made beside the others. */
  serverUrl: string;
  database: string;
  topic: string;
  brokers: string[];
  events: number;
  /** Unique to the run: client ids and the consumer group. */
  runKey: string;
}

export type OutboxRelayMessage =
  | { type: 'inserted'; insertMs: number }
  /** Epoch ms the relay started; ms from then until the broker acked the last event and until the last was applied. */
  | { type: 'relayed'; startedAtMs: number; brokerMs: number; endToEndMs: number; samples: number[] }
  | {
      type: 'checked';
      /** The counter the inbox consumer added to, in the same transactions as its inbox rows. */
      counter: number;
      inboxRows: number;
      outboxRowsLeft: number;
      acked: number;
    }
  | { type: 'failed'; message: string };

/** As the per-area script had them: the relay's and the consumer's batches, the inserts', the topic's partitions. */
const relayBatchSizeMax = 2_000;
const consumerBatchSizeMax = 2_000;
const insertBatchSizeMax = 1_000;
const partitions = 6;
const poolSizeMax = 8;
const relayTimeoutMs = 600_000;
const inboxConsumer = 'bench';
const accounts = Array.from({ length: 1_000 }, (_, index) => `110-${String(index).padStart(3, '0')}-000001`);
const userUuid = '0192f5a8-5c1e-7a3b-8c4d-1234567890ab';
const logger = pino({ level: 'warn' });

type BenchDb = OutboxDatabase & {
  counters: { name: string; events: string };
  inbox: { consumer: string; event_id: string };
};

/** Resolves once the message is handed to the IPC channel: the worker may exit right after. */
function send(message: OutboxRelayMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });
}

function openDatabase(spec: OutboxRelaySpec): Database<BenchDb> {
  const url = databaseUrl(spec.serverUrl, spec.database);
  return spec.dialect === 'postgres'
    ? createPgDatabase<BenchDb>({
        url,
        poolSizeMax,
        connectionTimeoutMs: 5_000,
        statementTimeoutMs: 60_000,
        applicationName: 'bench-outbox',
      })
    : createMysqlDatabase<BenchDb>({ url, poolSizeMax, connectTimeoutMs: 5_000, statementTimeoutMs: 60_000 });
}

/** Counts acked messages, so that table→broker is timed at the broker's ack, not at the row's mark. */
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

async function insertEvents(database: Database<BenchDb>, spec: OutboxRelaySpec): Promise<void> {
  for (let start = 0; start < spec.events; start += insertBatchSizeMax) {
    const count = Math.min(insertBatchSizeMax, spec.events - start);
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
      return { topic: spec.topic, key: messageKey(event), event };
    });
    await database.db.transaction().execute((trx) => enqueueOutbox(trx, messages));
  }
}

const relayOrder = new Promise<void>((resolve) => {
  process.on('message', (message: unknown) => {
    if (message === 'relay') resolve();
  });
});

/** The outbox, the inbox and the counter on the run's database; the topic and its DLQ. */
async function prepare(database: Database<BenchDb>, spec: OutboxRelaySpec): Promise<void> {
  await migrateToLatest(database.db, {
    ...outboxMigrations(spec.dialect),
    ...inboxMigrations(spec.dialect),
    '0001_counters': {
      up: async (db) => {
        await sql`create table counters (name varchar(32) primary key, events bigint not null)`.execute(db);
        await sql`insert into counters (name, events) values ('n', 0)`.execute(db);
      },
    },
  });
  await ensureTopics({
    brokers: spec.brokers,
    topics: [
      { name: spec.topic, partitions },
      { name: `${spec.topic}.dlq`, partitions: 1 },
    ],
  });
}

/** What the relay and the consumer have done so far, in performance.now() ms. */
class Progress {
  applied = 0;
  acked = 0;
  brokerDoneAt = 0;
  endToEndDoneAt = 0;
  readonly appliedAt: number[] = [];
  private readonly events: number;

  constructor(events: number) {
    this.events = events;
  }

  onApplied(count: number): void {
    this.applied += count;
    const now = performance.now();
    for (let index = 0; index < count; index += 1) this.appliedAt.push(now);
    if (this.applied >= this.events && this.endToEndDoneAt === 0) this.endToEndDoneAt = now;
  }

  onAcked(count: number): void {
    this.acked += count;
    if (this.acked >= this.events && this.brokerDoneAt === 0) this.brokerDoneAt = performance.now();
  }

  /** Events applied in each second since `startedAt`. */
  samples(startedAt: number): number[] {
    const samples = new Array<number>(Math.max(1, Math.ceil((this.endToEndDoneAt - startedAt) / 1_000))).fill(
      0,
    );
    for (const at of this.appliedAt) {
      samples[Math.min(samples.length - 1, Math.floor((at - startedAt) / 1_000))]! += 1;
    }
    return samples;
  }
}

/** The inbox consumer as the services run theirs: inbox rows and the state change in one transaction. */
function startConsumer(
  database: Database<BenchDb>,
  spec: OutboxRelaySpec,
  dlqProducer: EventProducer,
  progress: Progress,
) {
  const consumer = createEventConsumer({
    brokers: spec.brokers,
    groupId: `bench-outbox-${spec.runKey}`,
    clientId: `bench-consumer-${spec.runKey}`,
    topics: [spec.topic],
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
          inboxConsumer,
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
      progress.onApplied(fresh);
    },
  });
  return consumer.start().then(() => consumer);
}

/**
 * Relays the outbox until every event is applied, says `relayed` at that
 * moment (the end of the measured window), then stops both sides.
 */
async function relayAll(
  database: Database<BenchDb>,
  spec: OutboxRelaySpec,
  producers: { relay: EventProducer; dlq: EventProducer },
): Promise<Progress> {
  const progress = new Progress(spec.events);
  const consumer = await startConsumer(database, spec, producers.dlq, progress);
  const relay = createOutboxRelay({
    db: database.db,
    producer: countingProducer(producers.relay, (count) => progress.onAcked(count)),
    logger,
    batchSizeMax: relayBatchSizeMax,
    ...(spec.dialect === 'postgres' ? { listenUrl: databaseUrl(spec.serverUrl, spec.database) } : {}),
  });
  const startedAtMs = Date.now();
  const startedAt = performance.now();
  await relay.start();
  const deadline = Date.now() + relayTimeoutMs;
  while (progress.endToEndDoneAt === 0 && Date.now() < deadline) await sleep(10);
  if (progress.endToEndDoneAt !== 0) {
    await send({
      type: 'relayed',
      startedAtMs,
      brokerMs: progress.brokerDoneAt - startedAt,
      endToEndMs: progress.endToEndDoneAt - startedAt,
      samples: progress.samples(startedAt),
    });
  }
  await relay.stop();
  await consumer.stop();
  if (progress.endToEndDoneAt === 0) {
    throw new Error(
      `not relayed within ${relayTimeoutMs} ms: ${progress.acked} acked, ${progress.applied} applied`,
    );
  }
  return progress;
}

/** What the database says happened: the counter, the inbox, the rows left in the outbox (unsent). */
async function check(
  database: Database<BenchDb>,
  acked: number,
): Promise<Extract<OutboxRelayMessage, { type: 'checked' }>> {
  const counter = await database.db.selectFrom('counters').select('events').executeTakeFirstOrThrow();
  const inbox = await database.db
    .selectFrom('inbox')
    .select((eb) => eb.fn.countAll<string>().as('rows'))
    .where('consumer', '=', inboxConsumer)
    .executeTakeFirstOrThrow();
  // The relay deletes what it sent: any row left is one it did not send.
  const left = await database.db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<string>().as('rows'))
    .executeTakeFirstOrThrow();
  return {
    type: 'checked',
    counter: Number(counter.events),
    inboxRows: Number(inbox.rows),
    outboxRowsLeft: Number(left.rows),
    acked,
  };
}

async function run(spec: OutboxRelaySpec): Promise<void> {
  await (spec.dialect === 'postgres'
    ? ensurePgDatabase(spec.serverUrl, spec.database)
    : ensureMysqlDatabase(spec.serverUrl, spec.database));
  const database = openDatabase(spec);
  const producers = {
    relay: createEventProducer({
      brokers: spec.brokers,
      clientId: `bench-relay-${spec.runKey}`,
      inFlightMax: 5,
    }),
    dlq: createEventProducer({ brokers: spec.brokers, clientId: `bench-dlq-${spec.runKey}` }),
  };
  try {
    await prepare(database, spec);
    const insertStartedAt = performance.now();
    await insertEvents(database, spec);
    await send({ type: 'inserted', insertMs: performance.now() - insertStartedAt });
    await relayOrder;
    const progress = await relayAll(database, spec, producers);
    await send(await check(database, progress.acked));
  } finally {
    await producers.relay.close();
    await producers.dlq.close();
    await deleteTopics(spec.brokers, [spec.topic, `${spec.topic}.dlq`]);
    await database.close();
    await (spec.dialect === 'postgres'
      ? dropPgDatabase(spec.serverUrl, spec.database)
      : dropMysqlDatabase(spec.serverUrl, spec.database));
  }
}

// The suite gone (its IPC channel closed) means nobody waits for this run.
process.once('disconnect', () => process.exit(1));
process.once('message', (spec: OutboxRelaySpec) => {
  run(spec).then(
    () => process.exit(0),
    async (error: unknown) => {
      await send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    },
  );
});
