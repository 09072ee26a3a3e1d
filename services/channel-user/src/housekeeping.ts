import type { IdempotencyStore } from '@nuri/platform/idempotency';
import type { Logger } from '@nuri/platform/logger';
import type { Kysely } from 'kysely';
import type { ServiceDb } from './db/database.ts';
import { purgeExpiredRefreshTokens } from './db/refresh-tokens-repository.ts';
import type { LoginStore, UserRegistry } from './domain/auth.ts';

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

/**
 * Finishes signups that crashed between writing the login and confirming its
 * registration (domain/auth.ts signUp): a minute-old unconfirmed login is
 * confirmed now, or removed when core-user no longer holds its reservation
 * (its client never got a 201). Every instance runs it; both outcomes are
 * idempotent.
 */
export function startSignupCompletion(
  logins: Pick<LoginStore, 'unconfirmedLogins' | 'markRegistryConfirmed' | 'deleteUnconfirmedLogin'>,
  registry: Pick<UserRegistry, 'confirm'>,
  logger: Logger,
  intervalMs = 60_000,
): () => void {
  const run = async () => {
    for (const userUuid of await logins.unconfirmedLogins(new Date(Date.now() - 60_000), 100)) {
      try {
        await registry.confirm(userUuid, `signup-completion:${userUuid}`);
        await logins.markRegistryConfirmed(userUuid);
        logger.warn({ userUuid }, 'a signup interrupted before its confirmation was completed');
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'USER_NOT_FOUND') throw error;
        await logins.deleteUnconfirmedLogin(userUuid);
        logger.warn({ userUuid }, 'an interrupted signup whose reservation expired was removed');
      }
    }
  };
  const timer = setInterval(() => {
    run().catch((error: unknown) =>
      logger.warn({ err: error }, 'completing interrupted signups failed; retried'),
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
