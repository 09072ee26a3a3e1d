import { type Generated, type Kysely, type Migration, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DatabaseDialect } from '../db.ts';
import { counterIn, histogramIn } from './metrics.ts';
import type { EventProducer } from './producer.ts';
import { dialectOf } from './sql-dialect.ts';

export interface OutboxTable {
  id: string;
  topic: string;
  key: string;
  payload: string;
  created_at: Generated<Date>;
  published_at: Date | null;
}

export interface OutboxRelayLockTable {
  name: string;
}

export interface OutboxDatabase {
  outbox: OutboxTable;
  outbox_relay_lock: OutboxRelayLockTable;
}

export const outboxMigrationName = '0000_platform_outbox';
/** PostgreSQL channel the enqueue notifies and the relay listens on. */
export const outboxNotifyChannel = 'nuri_outbox';
const relayLockName = 'outbox';

/** Merge into the service's own migrations; the name sorts before service migrations. */
export function outboxMigrations(dialect: DatabaseDialect): Record<string, Migration> {
  const up =
    dialect === 'postgres'
      ? async (db: Kysely<unknown>) => {
          await sql`create table outbox (
            id uuid primary key,
            topic varchar(249) not null,
            key varchar(255) not null,
            payload text not null,
            created_at timestamptz not null default now(),
            published_at timestamptz null
          )`.execute(db);
          // The relay only ever scans the unpublished tail; keep that index tiny.
          await sql`create index outbox_unpublished on outbox (id) where published_at is null`.execute(db);
          await sql`create index outbox_published_at on outbox (published_at) where published_at is not null`.execute(
            db,
          );
          await sql`create table outbox_relay_lock (name varchar(64) primary key)`.execute(db);
          await sql`insert into outbox_relay_lock (name) values (${relayLockName})`.execute(db);
        }
      : async (db: Kysely<unknown>) => {
          await sql`create table outbox (
            id char(36) character set ascii collate ascii_bin primary key,
            topic varchar(249) not null,
            \`key\` varchar(255) not null,
            payload mediumtext not null,
            created_at datetime(3) not null default current_timestamp(3),
            published_at datetime(3) null,
            key outbox_published_id (published_at, id)
          ) engine = InnoDB`.execute(db);
          await sql`create table outbox_relay_lock (name varchar(64) primary key) engine = InnoDB`.execute(
            db,
          );
          await sql`insert into outbox_relay_lock (name) values (${relayLockName})`.execute(db);
        };
  return {
    [outboxMigrationName]: {
      up,
      down: async (db) => {
        await sql`drop table outbox_relay_lock`.execute(db);
        await sql`drop table outbox`.execute(db);
      },
    },
  };
}

export interface OutboxMessage {
  topic: string;
  key: string;
  /** The envelope; its `id` (UUIDv7) becomes the row id, so rows publish in creation order. */
  event: { id: string };
}

export interface EnqueueOptions {
  /** Called per event before it is stored; wire it to `validateEvent` from @nuri/contracts. */
  validate?: (topic: string, event: unknown) => void;
}

const enqueueChunkSizeMax = 1_000;

/**
 * Writes events into the outbox inside the caller's transaction, so they
 * exist if and only if the business change commits. On PostgreSQL it also
 * notifies the relay; the notification is delivered at commit.
 */
export async function enqueueOutbox<DB>(
  trx: Transaction<DB>,
  messages: readonly OutboxMessage[],
  options: EnqueueOptions = {},
): Promise<void> {
  if (messages.length === 0) return;
  const rows = messages.map((message) => outboxRowOf(message, options));
  const outboxDb = trx as unknown as Kysely<OutboxDatabase>;
  for (let start = 0; start < rows.length; start += enqueueChunkSizeMax) {
    await outboxDb
      .insertInto('outbox')
      .values(rows.slice(start, start + enqueueChunkSizeMax))
      .execute();
  }
  if (dialectOf(trx) === 'postgres') {
    await sql`select pg_notify(${outboxNotifyChannel}, '')`.execute(trx);
  }
}

/**
 * The row enqueueOutbox writes for a message, for a caller that must write it
 * itself (a stored procedure doing a whole transaction in one round trip).
 * Such a caller also notifies the relay: see OutboxNotifier.
 */
export function outboxRowOf(
  message: OutboxMessage,
  options: EnqueueOptions = {},
): { id: string; topic: string; key: string; payload: string } {
  options.validate?.(message.topic, message.event);
  return {
    id: message.event.id,
    topic: message.topic,
    key: message.key,
    payload: JSON.stringify(message.event),
  };
}

/**
 * Wakes the relays of this process when a transaction that enqueued outbox
 * rows has committed. MySQL has no LISTEN/NOTIFY, so without it a new row
 * waits out the relay's poll interval; polling stays the fallback for rows
 * written by other processes (or left by a crash).
 */
export interface OutboxNotifier {
  /** Call after the commit of a transaction that enqueued rows (never before: the relay would not see them). */
  notify(): void;
  /** Returns the function that stops listening. */
  subscribe(listener: () => void): () => void;
}

export function createOutboxNotifier(): OutboxNotifier {
  const listeners = new Set<() => void>();
  return {
    notify() {
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

export interface OutboxRelayHooks {
  /** Runs after the broker acked a batch and before it is marked; a throw leaves it unmarked. */
  afterPublish?: (ids: readonly string[]) => Promise<void> | void;
}

export interface OutboxRelayOptions<DB> {
  db: Kysely<DB>;
  producer: EventProducer;
  logger: Logger;
  registry?: Registry;
  /** PostgreSQL only: a connection string for a dedicated LISTEN connection. Without it the relay polls. */
  listenUrl?: string;
  /** Wakes the relay when this process commits outbox rows (any dialect). */
  notifier?: OutboxNotifier;
  batchSizeMax?: number;
  /** Idle wait between scans when no notification arrives (PostgreSQL default 1000, MySQL 50). */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
  cleanupIntervalMs?: number;
  cleanupBatchSizeMax?: number;
  errorBackoffMs?: number;
  errorBackoffMaxMs?: number;
  hooks?: OutboxRelayHooks;
}

export interface OutboxRelay {
  start(): Promise<void>;
  /** Lets the batch in hand finish (publish and mark), then stops. */
  stop(): Promise<void>;
  /** Publishes at most one batch; returns how many rows it published (0 when idle or another relay holds the lock). */
  publishBatch(): Promise<number>;
  /** Deletes published rows past retention; returns how many. */
  cleanup(): Promise<number>;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  payload: string;
}

export function createOutboxRelay<DB>(options: OutboxRelayOptions<DB>): OutboxRelay {
  const db = options.db as unknown as Kysely<OutboxDatabase>;
  const dialect = dialectOf(options.db);
  const { logger, producer } = options;
  const batchSizeMax = options.batchSizeMax ?? 1_000;
  const pollIntervalMs = options.pollIntervalMs ?? (dialect === 'postgres' ? 1_000 : 50);
  const retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1_000;
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 60_000;
  const cleanupBatchSizeMax = options.cleanupBatchSizeMax ?? 10_000;
  const errorBackoffMs = options.errorBackoffMs ?? 100;
  const errorBackoffMaxMs = options.errorBackoffMaxMs ?? 5_000;
  const metrics = options.registry === undefined ? undefined : createRelayMetrics(options.registry);

  let stopping = false;
  let loopDone: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  // A notification that came while a batch was in hand: its rows may have
  // committed after that batch's read, so the relay looks again at once
  // instead of sleeping a poll interval on them.
  let wokenWhileBusy = false;
  let listener: pg.Client | undefined;
  let unsubscribe: (() => void) | undefined;

  function signal(): void {
    const resolve = wake;
    wake = undefined;
    if (resolve === undefined) wokenWhileBusy = true;
    resolve?.();
  }

  function idle(ms: number): Promise<void> {
    if (stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async function publishBatch(): Promise<number> {
    const endTimer = metrics?.batchDuration.startTimer();
    // One relay at a time holds the lock row, so rows go out in id order and
    // per-key order survives several relay instances; the others stand by.
    // The lock and the marks share a transaction: a crash between publish and
    // mark rolls both back, and the rows are published again (at least once).
    const published = await db.transaction().execute(async (trx) => {
      const lock =
        await sql`select name from outbox_relay_lock where name = ${relayLockName} for update skip locked`.execute(
          trx,
        );
      if (lock.rows.length === 0) return 0;
      const rows: OutboxRow[] = await trx
        .selectFrom('outbox')
        .select(['id', 'topic', 'key', 'payload'])
        .where('published_at', 'is', null)
        .orderBy('id')
        .limit(batchSizeMax)
        .execute();
      if (rows.length === 0) return 0;
      await producer.sendRaw(rows.map((row) => ({ topic: row.topic, key: row.key, value: row.payload })));
      const ids = rows.map((row) => row.id);
      await options.hooks?.afterPublish?.(ids);
      const now = new Date();
      if (dialect === 'postgres') {
        await sql`update outbox set published_at = ${now} where id = any(${ids}::uuid[])`.execute(trx);
      } else {
        await trx.updateTable('outbox').set({ published_at: now }).where('id', 'in', ids).execute();
      }
      return rows.length;
    });
    if (published > 0) {
      endTimer?.();
      metrics?.published.inc(published);
    }
    return published;
  }

  async function cleanup(): Promise<number> {
    const cutoff = new Date(Date.now() - retentionMs);
    const result =
      dialect === 'postgres'
        ? await sql`delete from outbox where id in (
            select id from outbox where published_at < ${cutoff} limit ${cleanupBatchSizeMax})`.execute(db)
        : await sql`delete from outbox where published_at < ${cutoff} limit ${cleanupBatchSizeMax}`.execute(
            db,
          );
    return Number(result.numAffectedRows ?? 0n);
  }

  async function listen(): Promise<void> {
    if (dialect !== 'postgres' || options.listenUrl === undefined || stopping) return;
    const client = new pg.Client({ connectionString: options.listenUrl, connectionTimeoutMillis: 5_000 });
    client.on('notification', () => signal());
    client.on('error', (error) => {
      // Polling keeps the relay going while the listener reconnects.
      logger.warn({ err: error }, 'outbox LISTEN connection failed; reconnecting');
      listener = undefined;
      client.end().catch(() => {});
      setTimeout(() => {
        listen().catch((reconnectError: unknown) =>
          logger.warn({ err: reconnectError }, 'outbox LISTEN reconnect failed'),
        );
      }, errorBackoffMaxMs).unref();
    });
    await client.connect();
    await client.query(`listen ${outboxNotifyChannel}`);
    listener = client;
    if (stopping) await client.end();
  }

  async function run(): Promise<void> {
    let failures = 0;
    let nextCleanupAt = Date.now() + cleanupIntervalMs;
    while (!stopping) {
      let published = 0;
      try {
        published = await publishBatch();
        failures = 0;
        if (Date.now() >= nextCleanupAt) {
          nextCleanupAt = Date.now() + cleanupIntervalMs;
          const deleted = await cleanup();
          if (deleted > 0) logger.debug({ deleted }, 'outbox rows past retention deleted');
        }
      } catch (error) {
        failures += 1;
        metrics?.failures.inc();
        logger.error(
          { err: error, failures },
          'outbox relay batch failed; it stays unpublished and is retried',
        );
        await idle(Math.min(errorBackoffMaxMs, errorBackoffMs * 2 ** (failures - 1)));
        continue;
      }
      // A full batch means more rows are waiting, and so may a notification
      // that came during the batch: go again without sleeping.
      const notified = wokenWhileBusy;
      wokenWhileBusy = false;
      if (published < batchSizeMax && !notified) await idle(pollIntervalMs);
    }
  }

  return {
    publishBatch,
    cleanup,
    async start() {
      try {
        await listen();
      } catch (error) {
        logger.warn({ err: error }, 'outbox LISTEN unavailable; polling only');
      }
      unsubscribe = options.notifier?.subscribe(signal);
      loopDone = run();
    },
    async stop() {
      stopping = true;
      unsubscribe?.();
      signal();
      await loopDone;
      await listener?.end().catch(() => {});
      listener = undefined;
    },
  };
}

function createRelayMetrics(registry: Registry) {
  return {
    published: counterIn(registry, 'nuri_outbox_published_total', 'Outbox rows published to Kafka', []),
    failures: counterIn(registry, 'nuri_outbox_relay_failures_total', 'Relay batches that failed', []),
    batchDuration: histogramIn(
      registry,
      'nuri_outbox_relay_batch_duration_seconds',
      'Lock, read, publish and mark one batch',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
  };
}
