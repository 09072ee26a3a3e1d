import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Generated, type Kysely, type Migration, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DatabaseDialect } from '../db.ts';
import { cachedRead, scrapedGauge } from '../metrics.ts';
import { tracingEnabled } from '../tracing.ts';
import { counterIn, histogramIn } from './metrics.ts';
import { type EventProducer, publishTraced } from './producer.ts';
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
  /** The relay holding the lease (a process-unique id), or null. */
  holder: string | null;
  /** The lease ends then, by the database's clock; another relay may take it over afterwards. */
  lease_until: Date;
}

export interface OutboxDatabase {
  outbox: OutboxTable;
  outbox_relay_lock: OutboxRelayLockTable;
}

export const outboxMigrationName = '0000_platform_outbox';
/** Turns the relay's row lock into an expiring lease (holder + lease_until). */
export const outboxLeaseMigrationName = '0000_platform_outbox_lease';
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
  const addLease =
    dialect === 'postgres'
      ? async (db: Kysely<unknown>) => {
          await sql`alter table outbox_relay_lock
            add column holder varchar(128) null,
            add column lease_until timestamptz not null default '-infinity'`.execute(db);
        }
      : async (db: Kysely<unknown>) => {
          await sql`alter table outbox_relay_lock
            add column holder varchar(128) null,
            add column lease_until datetime(3) not null default '1970-01-01 00:00:01.000'`.execute(db);
        };
  return {
    [outboxMigrationName]: {
      up,
      down: async (db) => {
        await sql`drop table outbox_relay_lock`.execute(db);
        await sql`drop table outbox`.execute(db);
      },
    },
    [outboxLeaseMigrationName]: { up: addLease },
  };
}

export interface OutboxMessage {
  topic: string;
  key: string;
  /**
   * The envelope; its `id` (UUIDv7) becomes the row id. What order holds:
   * the relay publishes what has committed, oldest id first. Events of one
   * entity (a payment's attempts, a deposit's request and re-sends) are
   * written one after another under that entity's row lock, each with an id
   * made inside the lock, so they go out in the order they happened. Events of
   * different entities that share a key (two deposits of one account) may go
   * out in either order: an id is made before its transaction commits, so a
   * row committed later can carry a smaller id than one already published.
   * No consumer depends on that order — each event is applied by its own
   * entity's id, once (see docs/architecture.md "Events").
   */
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
  /** Runs after the broker acked a batch and before it is deleted as sent; a throw leaves it to be sent again. */
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
  /**
   * Each scan that finds nothing doubles the wait before the next, up to
   * this (default the larger of pollIntervalMs and 500 ms); a scan that
   * publishes, or a notification, brings it back to pollIntervalMs. An idle
   * relay then asks its database twice a second instead of fifty times,
   * while a busy one still scans every pollIntervalMs.
   */
  idlePollMaxMs?: number;
  /**
   * After a notification wakes an idle relay, how long it waits for more
   * commits before it reads (default defaultRelayLingerMs). A notification
   * comes with every commit, so without it a moderate stream of small
   * transactions is published one read, one produce and one delete per
   * commit; a few milliseconds gather several. A full batch (a backlog) is
   * followed by the next read at once.
   */
  lingerMs?: number;
  /**
   * How long the relay that publishes holds the lease without renewing it.
   * A relay that dies (or hangs) loses it after this long and a standby
   * takes over: the longest a stopped process can hold up publishing.
   */
  leaseMs?: number;
  /** How often a standby relay asks for the lease. */
  standbyIntervalMs?: number;
  /** Names this relay in the lease row; default host:pid:random. */
  holderId?: string;
  /**
   * The relay deletes what it sent; rows an older relay marked sent
   * (published_at) instead, during a rolling upgrade, are deleted once
   * they are this old.
   */
  retentionMs?: number;
  cleanupIntervalMs?: number;
  cleanupBatchSizeMax?: number;
  /**
   * PostgreSQL: the relay that holds the lease VACUUMs the outbox once it
   * has deleted this many rows since the last time (default 500) and is at
   * the tail (its last batch was not full), at most once per
   * `vacuumIntervalMs` (default 1,000). Every deleted row leaves a
   * dead entry at the front of the index the relay reads in id order, and
   * autovacuum visits a database about once a minute: by then each read
   * stepped over tens of thousands of them (5.5 ms for a read of 31 rows
   * behind 80,000 dead ones, 0.02 ms after a VACUUM). 0 turns it off.
   */
  vacuumAfterRows?: number;
  vacuumIntervalMs?: number;
  errorBackoffMs?: number;
  errorBackoffMaxMs?: number;
  hooks?: OutboxRelayHooks;
}

export interface OutboxRelay {
  start(): Promise<void>;
  /** Lets the batch in hand finish (publish and delete), then stops. */
  stop(): Promise<void>;
  /** Publishes at most one batch; returns how many rows it published (0 when idle or another relay holds the lease). */
  publishBatch(): Promise<number>;
  /** Deletes rows marked sent (by an older relay) past retention; returns how many. */
  cleanup(): Promise<number>;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  payload: string;
}

/** After a failed VACUUM the relay leaves the outbox to autovacuum this long (its default naptime). */
const vacuumRetryAfterFailureMs = 60_000;

/**
 * Runs `work` in a transaction at READ COMMITTED (MariaDB): the relay's
 * deletes then take no gap locks, so a service inserting outbox rows never
 * waits for them (see publishBatch).
 */
function atReadCommitted<T>(
  db: Kysely<OutboxDatabase>,
  work: (trx: Transaction<OutboxDatabase>) => Promise<T>,
): Promise<T> {
  return db.transaction().setIsolationLevel('read committed').execute(work);
}

/** See OutboxRelayOptions.lingerMs: the added latency at most, for fewer and larger publishes. */
export const defaultRelayLingerMs = 5;

export function createOutboxRelay<DB>(options: OutboxRelayOptions<DB>): OutboxRelay {
  const db = options.db as unknown as Kysely<OutboxDatabase>;
  const dialect = dialectOf(options.db);
  const { logger, producer } = options;
  const batchSizeMax = options.batchSizeMax ?? 1_000;
  const pollIntervalMs = options.pollIntervalMs ?? (dialect === 'postgres' ? 1_000 : 50);
  const idlePollMaxMs = Math.max(pollIntervalMs, options.idlePollMaxMs ?? 500);
  const lingerMs = options.lingerMs ?? defaultRelayLingerMs;
  const retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1_000;
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 60_000;
  const cleanupBatchSizeMax = options.cleanupBatchSizeMax ?? 10_000;
  const vacuumAfterRows = options.vacuumAfterRows ?? 500;
  const vacuumIntervalMs = options.vacuumIntervalMs ?? 1_000;
  const errorBackoffMs = options.errorBackoffMs ?? 100;
  const errorBackoffMaxMs = options.errorBackoffMaxMs ?? 5_000;
  const leaseMs = options.leaseMs ?? 3_000;
  const standbyIntervalMs = options.standbyIntervalMs ?? Math.min(1_000, leaseMs / 3);
  const holderId = options.holderId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const metrics = options.registry === undefined ? undefined : createRelayMetrics(options.registry);
  const traced = tracingEnabled();
  if (options.registry !== undefined) registerBacklogMetrics(options.registry, options.db, logger);

  let stopping = false;
  /** Rows this relay deleted since its last VACUUM, when that began (performance.now()), and the one running. */
  let deletedSinceVacuum = 0;
  let vacuumedAt = Number.NEGATIVE_INFINITY;
  let vacuuming: Promise<void> | undefined;
  let loopDone: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  // A notification that came while a batch was in hand: its rows may have
  // committed after that batch's read, so the relay looks again at once
  // instead of sleeping a poll interval on them.
  let wokenWhileBusy = false;
  let listener: pg.Client | undefined;
  let listenRetry: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  function signal(): void {
    const resolve = wake;
    wake = undefined;
    if (resolve === undefined) wokenWhileBusy = true;
    resolve?.();
  }

  /** Waits `ms` or until signalled; true when a signal ended the wait. */
  function idle(ms: number): Promise<boolean> {
    if (stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve(false);
      }, ms);
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  // One relay at a time publishes: the one holding the lease row. Rows go out
  // from the oldest unpublished id, so a relay that takes over
  // continues where the last one stopped. The lease expires (`leaseMs`) rather
  // than being a lock held by an open transaction: a process that is stopped
  // (SIGSTOP, a long pause) loses it too, not only one that dies. The holder
  // renews it every third of its length and checks, before each send, that it
  // still has at least half of it left; a relay whose send outlasts that half
  // (a slow broker, a pause between the check and its ack) may still publish
  // a batch its successor publishes as well, and that successor's copy of an
  // older event may land after a newer one of the same key — duplicates and
  // stale copies that every consumer absorbs by its event's or entity's id
  // (publishing is at least once, and no consumer trusts arrival order alone).
  let leaseValidUntil = 0;
  let leaseRenewAt = 0;
  let nextStandbyAttemptAt = 0;

  async function holdLease(): Promise<boolean> {
    const startedAt = performance.now();
    if (startedAt < leaseRenewAt) return true;
    const held = startedAt < leaseValidUntil;
    if (!held && startedAt < nextStandbyAttemptAt) return false;
    const taken =
      dialect === 'postgres'
        ? await sql`update outbox_relay_lock
            set holder = ${holderId}, lease_until = now() + ${leaseMs} * interval '1 millisecond'
            where name = ${relayLockName} and (holder = ${holderId} or lease_until < now())`.execute(db)
        : await sql`update outbox_relay_lock
            set holder = ${holderId}, lease_until = now(3) + interval ${leaseMs * 1_000} microsecond
            where name = ${relayLockName} and (holder = ${holderId} or lease_until < now(3))`.execute(db);
    if (Number(taken.numAffectedRows ?? 0n) !== 1) {
      if (held) logger.warn({ holderId }, 'outbox relay lease lost to another relay');
      leaseValidUntil = 0;
      leaseRenewAt = 0;
      nextStandbyAttemptAt = startedAt + standbyIntervalMs;
      return false;
    }
    if (!held) logger.info({ holderId }, 'outbox relay lease taken; this relay publishes');
    // Counted from before the statement, so our view of the lease never outlasts the database's.
    leaseValidUntil = startedAt + leaseMs;
    leaseRenewAt = startedAt + leaseMs / 3;
    return true;
  }

  async function releaseLease(): Promise<void> {
    if (leaseValidUntil === 0) return;
    leaseValidUntil = 0;
    leaseRenewAt = 0;
    await sql`update outbox_relay_lock set holder = null, lease_until = ${new Date(0)}
      where name = ${relayLockName} and holder = ${holderId}`.execute(db);
  }

  async function publishBatch(): Promise<number> {
    const endTimer = metrics?.batchDuration.startTimer();
    if (!(await holdLease())) return 0;
    const rows: OutboxRow[] = await db
      .selectFrom('outbox')
      .select(['id', 'topic', 'key', 'payload'])
      .where('published_at', 'is', null)
      .orderBy('id')
      .limit(batchSizeMax)
      .execute();
    if (rows.length === 0) return 0;
    // Too little of the lease left to be sure the send ends inside it: renew first.
    if (leaseValidUntil - performance.now() < leaseMs / 2) {
      leaseRenewAt = 0;
      if (!(await holdLease())) return 0;
    }
    await publishTraced(
      producer,
      rows.map((row) => ({ topic: row.topic, key: row.key, value: row.payload })),
      traced,
    );
    const ids = rows.map((row) => row.id);
    // A crash (or a failing hook) between the broker's ack and the delete
    // leaves the rows unsent: the next holder sends them again.
    await options.hooks?.afterPublish?.(ids);
    // Sent rows go at once. Marking them sent (published_at) wrote every
    // row a second time, payload and index entries included, and kept a
    // day of them for the next read to step over: of a deposit run's
    // PostgreSQL time, the marks were 6 % and the reads 18 %.
    if (dialect === 'postgres') {
      await sql`delete from outbox where id = any(${ids}::uuid[])`.execute(db);
      deletedSinceVacuum += ids.length;
    } else {
      // By primary key, at READ COMMITTED. For an IN list on a small
      // outbox MariaDB's optimizer chose to scan the whole table, and at
      // REPEATABLE READ a scanning DELETE locks every row it reads and the
      // gaps between them — rows a writer had inserted and not committed
      // included — so a writer inserting out of id order (point's batch of
      // payments) waited for the relay while the relay waited for it: a
      // deadlock in one of 230–390 payments in the bench, each a failed
      // batch (outbox-writers.test.ts). ORDER BY id LIMIT makes it walk
      // the primary key to the listed rows only; READ COMMITTED takes no
      // gap locks at all, so an insert never waits for the relay.
      await atReadCommitted(db, (trx) =>
        trx.deleteFrom('outbox').where('id', 'in', ids).orderBy('id').limit(ids.length).execute(),
      );
    }
    endTimer?.();
    metrics?.published.inc(rows.length);
    return rows.length;
  }

  /**
   * See vacuumAfterRows. Only the lease holder deletes, so only it vacuums.
   * Not while a backlog drains (the last batch was full): each VACUUM would
   * scan the whole backlog again; the first one at its tail clears it all.
   * In the background, on one pooled connection, so publishing never waits
   * for it; one at a time, never after stop(). Without the pool's statement
   * timeout (a VACUUM cut short keeps nothing of its index cleanup, and the
   * first after a long outage may take longer than a statement should), and
   * without truncating the table's empty tail (that step takes a lock that
   * would hold up every transaction writing to the outbox); SKIP_LOCKED: a
   * VACUUM already running (autovacuum's) is enough. So it blocks no reader
   * or writer. After a failure it waits a minute (autovacuum's pace) before
   * it tries again; publishing goes on, reads only get slower meanwhile.
   */
  function vacuumIfDue(lastBatchSize: number): void {
    if (stopping || vacuumAfterRows <= 0 || deletedSinceVacuum < vacuumAfterRows) return;
    if (lastBatchSize >= batchSizeMax || vacuuming !== undefined) return;
    if (performance.now() - vacuumedAt < vacuumIntervalMs) return;
    vacuumedAt = performance.now();
    const deleted = deletedSinceVacuum;
    deletedSinceVacuum = 0;
    vacuuming = db
      .connection()
      .execute(async (connection) => {
        await sql`set statement_timeout = 0`.execute(connection);
        try {
          await sql`vacuum (skip_locked, truncate false) outbox`.execute(connection);
        } finally {
          await sql`reset statement_timeout`.execute(connection);
        }
      })
      .then(
        () => void metrics?.vacuums.inc(),
        (error: unknown) => {
          vacuumedAt = performance.now() + vacuumRetryAfterFailureMs;
          logger.warn({ err: error, deleted }, 'outbox VACUUM failed; reads slow down until autovacuum runs');
        },
      )
      .finally(() => {
        vacuuming = undefined;
      });
  }

  // Every relay runs it, holder or not: deleting marked rows past a cutoff is idempotent.
  async function cleanup(): Promise<number> {
    const cutoff = new Date(Date.now() - retentionMs);
    const result =
      dialect === 'postgres'
        ? await sql`delete from outbox where id in (
            select id from outbox where published_at < ${cutoff} limit ${cleanupBatchSizeMax})`.execute(db)
        : await atReadCommitted(db, (trx) =>
            sql`delete from outbox where published_at < ${cutoff} limit ${cleanupBatchSizeMax}`.execute(trx),
          );
    return Number(result.numAffectedRows ?? 0n);
  }

  /**
   * A LISTEN connection is kept for as long as the relay runs: lost, it is
   * opened again every errorBackoffMaxMs until it is back (a reconnect that
   * failed once used to be the last, and rows then waited for the next poll,
   * up to a second, after every PostgreSQL restart). Polling covers the gaps.
   */
  function listenAgainLater(): void {
    if (stopping || listenRetry !== undefined) return;
    listenRetry = setTimeout(() => {
      listenRetry = undefined;
      listen().catch((error: unknown) => {
        logger.warn({ err: error }, 'outbox LISTEN reconnect failed; retrying');
        listenAgainLater();
      });
    }, errorBackoffMaxMs);
    listenRetry.unref();
  }

  async function listen(): Promise<void> {
    if (dialect !== 'postgres' || options.listenUrl === undefined || stopping) return;
    const client = new pg.Client({ connectionString: options.listenUrl, connectionTimeoutMillis: 5_000 });
    client.on('notification', () => signal());
    client.on('error', (error) => {
      // Before it listens, a failure is the connect's or the LISTEN's to report.
      if (listener !== client) return;
      logger.warn({ err: error }, 'outbox LISTEN connection failed; reconnecting');
      listener = undefined;
      client.end().catch(() => {});
      listenAgainLater();
    });
    try {
      await client.connect();
      await client.query(`listen ${outboxNotifyChannel}`);
    } catch (error) {
      client.end().catch(() => {});
      throw error;
    }
    listener = client;
    // Rows committed while it was away notified nobody: look now.
    signal();
    if (stopping) await client.end();
  }

  async function run(): Promise<void> {
    let failures = 0;
    let idleWaitMs = pollIntervalMs;
    let nextCleanupAt = Date.now() + cleanupIntervalMs;
    while (!stopping) {
      let published = 0;
      try {
        published = await publishBatch();
        failures = 0;
        vacuumIfDue(published);
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
      // A full batch means more rows are waiting: go again at once. A
      // notification (during the batch, or ending the idle wait) means rows
      // committed since: wait lingerMs for more commits to join them, since
      // each read, produce and delete costs the same for one row as for many.
      if (published > 0 || wokenWhileBusy) idleWaitMs = pollIntervalMs;
      if (published >= batchSizeMax) continue;
      let notified = wokenWhileBusy;
      wokenWhileBusy = false;
      if (!notified) {
        notified = await idle(idleWaitMs);
        idleWaitMs = notified || published > 0 ? pollIntervalMs : Math.min(idlePollMaxMs, idleWaitMs * 2);
      }
      // Notifications that come during the linger are its purpose, not a reason to hurry.
      if (notified && lingerMs > 0 && !stopping) {
        await sleep(lingerMs);
        wokenWhileBusy = false;
      }
    }
  }

  return {
    publishBatch,
    cleanup,
    async start() {
      try {
        await listen();
      } catch (error) {
        logger.warn({ err: error }, 'outbox LISTEN unavailable; polling until it is back');
        listenAgainLater();
      }
      unsubscribe = options.notifier?.subscribe(signal);
      loopDone = run();
    },
    async stop() {
      stopping = true;
      unsubscribe?.();
      signal();
      await loopDone;
      // Handed over at once rather than left to expire: a standby takes over within its interval.
      await releaseLease().catch((error: unknown) =>
        logger.warn({ err: error }, 'releasing the outbox relay lease failed; it expires by itself'),
      );
      // The VACUUM needs no lease; the pool must outlive it.
      await vacuuming;
      clearTimeout(listenRetry);
      listenRetry = undefined;
      await listener?.end().catch(() => {});
      listener = undefined;
    },
  };
}

function createRelayMetrics(registry: Registry) {
  return {
    published: counterIn(registry, 'nuri_outbox_published_total', 'Outbox rows published to Kafka', []),
    vacuums: counterIn(
      registry,
      'nuri_outbox_vacuums_total',
      'VACUUMs of the outbox its relay ran (PostgreSQL) to clear the rows it deleted, one skipped for autovacuum included',
      [],
    ),
    failures: counterIn(registry, 'nuri_outbox_relay_failures_total', 'Relay batches that failed', []),
    batchDuration: histogramIn(
      registry,
      'nuri_outbox_relay_batch_duration_seconds',
      'Hold the lease, read, publish and delete one batch',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
  };
}

/** Scrapes within this long of a backlog read share it: two index scans per scrape interval, not per scraper. */
const backlogCacheMs = 5_000;

/**
 * `nuri_outbox_pending_rows` and `nuri_outbox_oldest_pending_age_seconds`,
 * read from the database at scrape time (readOutboxBacklog). Every instance
 * of a service reports the same database: the rules take the max.
 */
function registerBacklogMetrics<DB>(registry: Registry, db: Kysely<DB>, logger: Logger): void {
  if (registry.getSingleMetric('nuri_outbox_pending_rows') !== undefined) return;
  const backlog = cachedRead(
    () => readOutboxBacklog(db),
    backlogCacheMs,
    (error) => logger.warn({ err: error }, 'reading the outbox backlog for the metrics failed'),
  );
  scrapedGauge({
    registry,
    name: 'nuri_outbox_pending_rows',
    help: `Outbox rows not yet published (counted up to ${outboxPendingCountedMax})`,
    read: async () => {
      const read = await backlog();
      return read === undefined ? undefined : [{ value: read.pending }];
    },
  });
  scrapedGauge({
    registry,
    name: 'nuri_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest unpublished outbox row by the database clock; 0 when none waits',
    read: async () => {
      const read = await backlog();
      return read === undefined ? undefined : [{ value: read.oldestAgeSeconds ?? 0 }];
    },
  });
}

/** What an outbox holds back (GET /internal/v1/ops/outbox of each service that has one). */
export interface OutboxBacklog {
  /** Rows not yet published, counted up to `outboxPendingCountedMax`. */
  pending: number;
  /** Age of the oldest of them by the database's clock; null when none waits. */
  oldestAgeSeconds: number | null;
}

/** Past this many unpublished rows the count stops: the answer stays an index scan of bounded length. */
export const outboxPendingCountedMax = 1_000_000;

/** Reads the backlog with two index scans of the unpublished tail (never the whole table). */
export async function readOutboxBacklog<DB>(database: Kysely<DB>): Promise<OutboxBacklog> {
  const db = database as unknown as Kysely<OutboxDatabase>;
  const postgres = dialectOf(database) === 'postgres';
  const counted = await sql<{ pending: string | number }>`
    select count(*) as pending from (
      select id from outbox where published_at is null limit ${outboxPendingCountedMax}
    ) unpublished`.execute(db);
  const oldest = postgres
    ? await sql<{ age: string | number }>`
        select extract(epoch from (now() - created_at)) as age
        from outbox where published_at is null order by id limit 1`.execute(db)
    : await sql<{ age: string | number }>`
        select timestampdiff(microsecond, created_at, now(3)) / 1000000 as age
        from outbox where published_at is null order by id limit 1`.execute(db);
  const age = oldest.rows[0]?.age;
  return {
    pending: Number(counted.rows[0]?.pending ?? 0),
    oldestAgeSeconds: age === undefined ? null : Math.max(0, Math.floor(Number(age))),
  };
}
