import { createEvent, newEventId } from '@nuri/contracts/events';
import { pino } from 'pino';
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
} from '../../src/db.ts';
import { type OutboxDatabase, outboxMigrations } from '../../src/kafka/outbox.ts';
import { readTopicFrom, uniqueName, waitUntil } from '../../src/testing.ts';

export const brokers = ['127.0.0.1:9092'];
export const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
export const mysqlAdminUrl = 'mysql://root@127.0.0.1:3306/';
export const silentLogger = pino({ level: 'silent' });

/** Short group timings so the first join takes well under a second on the test broker. */
export const fastGroupTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
} as const;

/** Reads a topic from the beginning until `count` messages arrived (then a little longer, to catch extras). */
export function readTopic(topic: string, count: number, timeoutMs: number, settleMs = 0) {
  return readTopicFrom(brokers, topic, count, timeoutMs, settleMs);
}

/** A throwaway database of `name` on the local server of `dialect`; `drop` closes and removes it. */
export async function openThrowawayDatabase<DB>(
  dialect: DatabaseDialect,
  name: string,
  poolSizeMax: number,
): Promise<{ database: Database<DB>; drop: () => Promise<void> }> {
  if (dialect === 'postgres') {
    await ensurePgDatabase(pgAdminUrl, name);
    const database = createPgDatabase<DB>({
      url: `postgres://postgres@127.0.0.1:5432/${name}`,
      poolSizeMax,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'it-outbox',
    });
    return {
      database,
      async drop() {
        await database.close();
        await dropPgDatabase(pgAdminUrl, name);
      },
    };
  }
  await ensureMysqlDatabase(mysqlAdminUrl, name);
  const database = createMysqlDatabase<DB>({
    url: `mysql://root@127.0.0.1:3306/${name}`,
    poolSizeMax,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
  });
  return {
    database,
    async drop() {
      await database.close();
      await dropMysqlDatabase(mysqlAdminUrl, name);
    },
  };
}

/** A throwaway database holding only the outbox, named after `prefix`; `drop` closes and removes it. */
export async function openOutbox(
  dialect: DatabaseDialect,
  prefix: string,
  poolSizeMax = 2,
): Promise<{ database: Database<OutboxDatabase>; drop: () => Promise<void> }> {
  const name = uniqueName(prefix).replaceAll('-', '_').replaceAll('.', '_');
  const opened = await openThrowawayDatabase<OutboxDatabase>(dialect, name, poolSizeMax);
  await migrateToLatest(opened.database.db, outboxMigrations(dialect));
  return opened;
}

export { uniqueName, waitUntil };

/** A deposit.requested numbered `index` (its amount 1,000 + index), made by `source`, for tests that only move events. */
export function depositRequested(index: number, source: string) {
  return createEvent(
    'deposit.requested',
    {
      depositId: newEventId(),
      accountNo: '110-234-567890',
      userUuid: '0190a000-0000-7000-8000-000000000001',
      amount: 1_000 + index,
      requestedAt: new Date().toISOString(),
    },
    { source, correlationId: `c-${index}` },
  );
}
