import { type Generated, type Kysely, type Migration, sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { DatabaseDialect } from '../db.ts';
import { createPeriodicPass, inBatches } from '../periodic.ts';
import { dialectOf } from './sql-dialect.ts';

export interface InboxTable {
  consumer: string;
  event_id: string;
  handled_at: Generated<Date>;
}

export interface InboxDatabase {
  inbox: InboxTable;
}

export const inboxMigrationName = '0000_platform_inbox';

/** Merge into the service's own migrations; the name sorts before service migrations. */
export function inboxMigrations(dialect: DatabaseDialect): Record<string, Migration> {
  const up =
    dialect === 'postgres'
      ? async (db: Kysely<unknown>) => {
          await sql`create table inbox (
            consumer varchar(128) not null,
            event_id uuid not null,
            handled_at timestamptz not null default now(),
            primary key (consumer, event_id)
          )`.execute(db);
          await sql`create index inbox_handled_at on inbox (handled_at)`.execute(db);
        }
      : async (db: Kysely<unknown>) => {
          await sql`create table inbox (
            consumer varchar(128) character set ascii collate ascii_bin not null,
            event_id char(36) character set ascii collate ascii_bin not null,
            handled_at datetime(3) not null default current_timestamp(3),
            primary key (consumer, event_id),
            key inbox_handled_at (handled_at)
          ) engine = InnoDB`.execute(db);
        };
  return {
    [inboxMigrationName]: {
      up,
      down: async (db) => {
        await sql`drop table inbox`.execute(db);
      },
    },
  };
}

/**
 * Records that `consumer` handled these events and returns the ids it had not
 * handled before (input order, duplicates removed). Call it inside the
 * transaction that applies the effects, and apply them only for the returned
 * ids: a redelivered event then has no second effect, and if the transaction
 * rolls back the ids are not recorded either.
 */
export async function recordInbox<DB>(
  trx: Transaction<DB>,
  consumer: string,
  eventIds: readonly string[],
): Promise<string[]> {
  const unique = [...new Set(eventIds)];
  if (unique.length === 0) return [];
  const fresh =
    dialectOf(trx) === 'postgres'
      ? await recordPostgres(trx, consumer, unique)
      : await recordMysql(trx, consumer, unique);
  return unique.filter((id) => fresh.has(id));
}

async function recordPostgres<DB>(
  trx: Transaction<DB>,
  consumer: string,
  ids: string[],
): Promise<Set<string>> {
  // ON CONFLICT DO NOTHING also waits for a concurrent, uncommitted insert of the
  // same id and then skips it, so two consumers racing on one event cannot both win.
  const result = await sql<{ event_id: string }>`
    insert into inbox (consumer, event_id)
    select ${consumer}, unnest(${ids}::uuid[])
    on conflict do nothing
    returning event_id`.execute(trx);
  return new Set(result.rows.map((row) => row.event_id));
}

function insertIgnore<DB>(trx: Transaction<DB>, consumer: string, ids: string[]) {
  const values = sql.join(ids.map((id) => sql`(${consumer}, ${id})`));
  return sql`insert ignore into inbox (consumer, event_id) values ${values}`.execute(trx);
}

async function insertAllOrNothing<DB>(
  trx: Transaction<DB>,
  consumer: string,
  ids: string[],
): Promise<boolean> {
  await sql`savepoint inbox_record`.execute(trx);
  const result = await insertIgnore(trx, consumer, ids);
  if (Number(result.numAffectedRows ?? 0n) === ids.length) {
    await sql`release savepoint inbox_record`.execute(trx);
    return true;
  }
  await sql`rollback to savepoint inbox_record`.execute(trx);
  return false;
}

async function recordMysql<DB>(trx: Transaction<DB>, consumer: string, ids: string[]): Promise<Set<string>> {
  // MySQL has no INSERT … RETURNING. The common case (nothing seen before) is
  // one statement; only a redelivery pays for finding out which ids are new.
  if (await insertAllOrNothing(trx, consumer, ids)) return new Set(ids);
  // A locking read sees the latest committed rows, not this transaction's snapshot.
  const existing = await sql<{ event_id: string }>`
    select event_id from inbox
    where consumer = ${consumer} and event_id in (${sql.join(ids)})
    lock in share mode`.execute(trx);
  const seen = new Set(existing.rows.map((row) => row.event_id));
  const candidates = ids.filter((id) => !seen.has(id));
  if (candidates.length === 0) return new Set();
  if (await insertAllOrNothing(trx, consumer, candidates)) return new Set(candidates);
  // Another consumer committed some of them in between: the unique key settles each id exactly.
  const fresh = new Set<string>();
  for (const id of candidates) {
    const one = await insertIgnore(trx, consumer, [id]);
    if (Number(one.numAffectedRows ?? 0n) === 1) fresh.add(id);
  }
  return fresh;
}

/**
 * Deletes inbox rows handled before `cutoff`, at most `batchSizeMax` of them;
 * returns how many. An id is only needed while its event can still be
 * redelivered, so the cutoff must lie further back than the topics keep events.
 */
export async function pruneInbox<DB>(db: Kysely<DB>, cutoff: Date, batchSizeMax: number): Promise<number> {
  const result =
    dialectOf(db) === 'postgres'
      ? await sql`delete from inbox where (consumer, event_id) in (
          select consumer, event_id from inbox where handled_at < ${cutoff} limit ${batchSizeMax})`.execute(
          db,
        )
      : await sql`delete from inbox where handled_at < ${cutoff} limit ${batchSizeMax}`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export interface InboxPrunerOptions<DB> {
  db: Kysely<DB>;
  logger: Logger;
  /** How long a handled id is kept; longer than any topic's retention. Default 8 days. */
  retentionMs?: number;
  /** Default 10 minutes; the first pass runs one interval after start. */
  intervalMs?: number;
  /** Rows per statement; a pass repeats statements until fewer come back. Default 10,000. */
  batchSizeMax?: number;
}

export interface InboxPruner {
  /** One pass: deletes every row past retention, a batch at a time; returns how many. */
  prune(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Keeps the inbox from growing without limit: every interval, the ids handled
 * longer ago than the retention are deleted in bounded batches. A failed pass
 * is logged and tried again at the next interval; nothing depends on it
 * except the table's size. Every instance runs it: deleting rows past a
 * cutoff is idempotent, so no lease is needed.
 */
export function createInboxPruner<DB>(options: InboxPrunerOptions<DB>): InboxPruner {
  const retentionMs = options.retentionMs ?? 8 * 86_400_000;
  const batchSizeMax = options.batchSizeMax ?? 10_000;
  const prune = () => {
    const cutoff = new Date(Date.now() - retentionMs);
    return inBatches(batchSizeMax, () => pruneInbox(options.db, cutoff, batchSizeMax));
  };
  const pass = createPeriodicPass({
    name: 'inbox ids past retention deleted',
    logger: options.logger,
    intervalMs: options.intervalMs ?? 600_000,
    pass: prune,
  });
  return { prune, start: pass.start, stop: pass.stop };
}
