import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import {
  type InternalCallers,
  type InternalRoutePolicy,
  requireInternalToken,
} from '@nuri/platform/internal-auth';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { createRrnBlindIndexer } from './crypto/blind-index.ts';
import { createPiiCipher, type PiiKeyring } from './crypto/pii-cipher.ts';
import type { ServiceDb } from './db/database.ts';
import { createUserRepository } from './db/user-repository.ts';
import { createFormatOnlyVerifier, type RealNameVerifier } from './domain/real-name.ts';
import { createUserService, type UserService } from './domain/users.ts';
import { registerUserRoutes } from './routes/users.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  database: Database<ServiceDb>;
  /** NURI_INTERNAL_CALLERS: every non-health call must carry one of their tokens. */
  internalCallers: InternalCallers;
  piiKeyring: PiiKeyring;
  blindIndexKey: Buffer;
  /** 실명확인 (domain/real-name.ts); the format-only stand-in by default. */
  realNames?: RealNameVerifier;
  /** Registration attempts per RRN per hour. */
  registrationAttemptsPerHourMax?: number;
}

/** Who may call what: the registry answers channel-user only (signup, login's lookups, accounts). */
export const internalRoutePolicy: InternalRoutePolicy = { 'channel-user': 'any' };

/** The core-user HTTP app (internal real-name registry); never listens (server.ts does). */
export function buildApp(deps: AppDeps) {
  const app = createHttpApp({
    name: 'core-user',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
      database: () => deps.database.ping(),
    },
  });
  requireInternalToken(app, { callers: deps.internalCallers, policy: internalRoutePolicy });
  registerUserRoutes(app, buildUserService(deps));
  return app;
}

/** The use cases wired to their database and keys; the re-encryption script uses them without HTTP. */
export function buildUserService(
  deps: Pick<
    AppDeps,
    'database' | 'piiKeyring' | 'blindIndexKey' | 'realNames' | 'registrationAttemptsPerHourMax'
  >,
): UserService {
  return createUserService({
    repository: createUserRepository(deps.database.db),
    cipher: createPiiCipher(deps.piiKeyring),
    rrnBlindIndex: createRrnBlindIndexer(deps.blindIndexKey),
    realNames: deps.realNames ?? createFormatOnlyVerifier(),
    ...(deps.registrationAttemptsPerHourMax === undefined
      ? {}
      : { attemptsPerHourMax: deps.registrationAttemptsPerHourMax }),
  });
}
