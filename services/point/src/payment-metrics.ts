import { stuckPaymentsListedMax } from '@nuri/contracts/operations';
import type { Logger } from '@nuri/platform/logger';
import { cachedRead, scrapedGauge } from '@nuri/platform/metrics';
import { type Kysely, sql } from 'kysely';
import type { Registry } from 'prom-client';
import type { ServiceDb } from './db/database.ts';
import { readPaymentsOverview } from './db/reconciliation-repository.ts';

/** Scrapes within this long share one read: an index scan per status, whatever the number of scrapers. */
const readCacheMs = 10_000;

interface PaymentFigures {
  byStatus: Record<'PENDING' | 'COMPLETED' | 'FAILED', number>;
  /** PENDING past every attempt (counted up to stuckPaymentsListedMax). */
  stuck: number;
  /** Age of the oldest PENDING payment, by the database's clock; 0 when none is pending. */
  oldestPendingAgeSeconds: number;
}

/**
 * The saga's state for the on-call (deploy/monitoring/rules): payments by
 * status, the stuck ones, and how long the oldest PENDING one has waited.
 * Read from the database at scrape time through the (status, created_at)
 * index; every point instance reports the same figures and the rules take
 * the max.
 */
export function registerPaymentMetrics(options: {
  registry: Registry;
  db: Kysely<ServiceDb>;
  attemptsMax: number;
  logger: Logger;
}): void {
  const { registry, db, attemptsMax, logger } = options;
  const figures = cachedRead(
    () => readFigures(db, attemptsMax),
    readCacheMs,
    (error) => logger.warn({ err: error }, 'reading the payment figures for the metrics failed'),
  );
  const read = async <T>(pick: (figures: PaymentFigures) => T): Promise<T | undefined> => {
    const found = await figures();
    return found === undefined ? undefined : pick(found);
  };
  scrapedGauge<'status'>({
    registry,
    name: 'nuri_point_payments',
    help: 'Composite payments by status',
    labelNames: ['status'],
    read: () =>
      read((found) =>
        Object.entries(found.byStatus).map(([status, value]) => ({ labels: { status }, value })),
      ),
  });
  scrapedGauge({
    registry,
    name: 'nuri_point_payments_stuck',
    help: `Payments still PENDING after their last attempt (counted up to ${stuckPaymentsListedMax}); resolve with nuri payments retry`,
    read: () => read((found) => [{ value: found.stuck }]),
  });
  scrapedGauge({
    registry,
    name: 'nuri_point_payment_oldest_pending_age_seconds',
    help: 'How long the oldest PENDING payment has waited for its cash step; 0 when none is pending',
    read: () => read((found) => [{ value: found.oldestPendingAgeSeconds }]),
  });
}

async function readFigures(db: Kysely<ServiceDb>, attemptsMax: number): Promise<PaymentFigures> {
  const [overview, oldest] = await Promise.all([
    readPaymentsOverview(db, attemptsMax, new Date(), stuckPaymentsListedMax),
    sql<{ age: string | number | null }>`
      select timestampdiff(microsecond, min(created_at), now(3)) / 1000000 as age
      from payments where status = 'PENDING'`.execute(db),
  ]);
  const age = oldest.rows[0]?.age;
  return {
    byStatus: overview.byStatus,
    stuck: overview.stuck.length,
    oldestPendingAgeSeconds: age === null || age === undefined ? 0 : Math.max(0, Number(age)),
  };
}
