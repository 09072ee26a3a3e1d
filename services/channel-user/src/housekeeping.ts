import type { IdempotencyStore } from '@nuri/platform/idempotency';
import type { Logger } from '@nuri/platform/logger';
import type { Kysely } from 'kysely';
import type { ServiceDb } from './db/database.ts';
import { purgeExpiredRefreshTokens } from './db/refresh-tokens-repository.ts';

const intervalMs = 10 * 60_000;
const batchSizeMax = 5_000;

/**
 * Deletes idempotency keys past retention and long-expired refresh tokens, a
 * batch every ten minutes. Every instance runs it: deletes of rows past a
 * cutoff are idempotent, so two instances at once only share the work.
 */
export function startHousekeeping(
  db: Kysely<ServiceDb>,
  idempotency: IdempotencyStore,
  logger: Logger,
): () => void {
  const timer = setInterval(() => {
    Promise.all([idempotency.purgeExpired(batchSizeMax), purgeExpiredRefreshTokens(db, batchSizeMax)])
      .then(([keys, tokens]) => {
        if (keys + tokens > 0)
          logger.info({ keys, tokens }, 'expired idempotency keys and refresh tokens deleted');
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'housekeeping failed; retried next round'));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
