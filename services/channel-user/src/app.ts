import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import { createIdempotencyStore } from '@nuri/platform/idempotency';
import { uuidv7 } from '@nuri/platform/ids';
import type { InternalCallers } from '@nuri/platform/internal-auth';
import { createBrokerProbe } from '@nuri/platform/kafka/admin';
import type { OutboxNotifier } from '@nuri/platform/kafka/outbox';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { serveOpenApi } from '@nuri/platform/openapi';
import type { AccessTokenIssuer } from './auth/access-tokens.ts';
import { createPasswordHasher, defaultHasherOptions, type PasswordHasherOptions } from './auth/passwords.ts';
import { createAccountLinkStore } from './db/account-links-repository.ts';
import type { ServiceDb } from './db/database.ts';
import { createDepositStore, type DepositWriteLimits } from './db/deposits-repository.ts';
import { createLoginStore } from './db/logins-repository.ts';
import { createLookupCounter } from './db/recipient-lookups-repository.ts';
import { createRefreshTokenStore } from './db/refresh-tokens-repository.ts';
import type { CoreLedger } from './domain/accounts.ts';
import type { UserRegistry } from './domain/auth.ts';
import { createOneAtATime } from './domain/one-at-a-time.ts';
import {
  createHolderNames,
  createRecipientProbeGuard,
  defaultRecipientLookupsPerMinute,
} from './domain/transfers.ts';
import { registerAccountRoutes } from './routes/accounts.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { guardRoutes } from './routes/authenticate.ts';
import { type CoreViewDeps, registerCoreViewRoutes } from './routes/core-view.ts';
import { registerDepositRoutes } from './routes/deposits.ts';
import { registerInternalRoutes } from './routes/internal.ts';
import { registerTransferRoutes } from './routes/transfers.ts';
import { registerWebSessionRoutes } from './routes/web-session.ts';

/** Logins of one loginId waiting behind the one being checked; one more is refused (429). */
const loginAttemptsWaitingMax = 16;

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  database: Database<ServiceDb>;
  kafkaBrokers: string[];
  /** NURI_INTERNAL_CALLERS: guard /internal/* (the core clients carry this service's own token). */
  internalCallers: InternalCallers;
  accessTokens: AccessTokenIssuer;
  refreshTokenTtlSeconds: number;
  /** core-user's registry. */
  registry: UserRegistry;
  /** core-payment's accounts and withdrawals. */
  ledger: CoreLedger;
  depositRequestedTopic: string;
  /** Told when accepted deposits (and their outbox events) have committed, to wake the relay. */
  outboxNotifier?: OutboxNotifier;
  /** How accepted deposits are grouped into writes; defaults fit tests and development. */
  depositWrites?: DepositWriteLimits;
  /** How many password hashes run and wait at once (auth/passwords.ts); defaults otherwise. */
  hashing?: PasswordHasherOptions;
  /** Recipient look-ups per user per minute (docs/api.md: 30 by default). */
  recipientLookupsPerMinute?: number;
  /** The core clients, for the gateway's view of the core (routes/core-view.ts); absent: no such routes. */
  core?: CoreViewDeps;
}

const readinessTimeoutMs = 1_000;

/** The channel-user HTTP app; never listens (server.ts does). Kafka runs beside it (events/runtime.ts). */
export function buildApp(deps: AppDeps) {
  const brokerProbe = createBrokerProbe(deps.kafkaBrokers, 'channel-user-readiness');
  const app = createHttpApp({
    name: 'channel-user',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
      database: () => deps.database.ping(),
    },
    // Kafka is shown, not gating: logins need no broker, and deposits wait in the outbox until it is back.
    reportedChecks: { kafka: () => brokerProbe.check(readinessTimeoutMs) },
  });
  app.addHook('onClose', () => brokerProbe.close());
  // Before any route: the gateway merges this document into GET /openapi.json.
  serveOpenApi(app, { title: 'channel-user' });
  const { db } = deps.database;
  const links = createAccountLinkStore(db);
  const idempotency = createIdempotencyStore(db);
  const logins = createLoginStore(db);
  guardRoutes(app, deps.accessTokens.verifier, deps.internalCallers);
  const authDeps = {
    registry: deps.registry,
    logins,
    passwords: createPasswordHasher(deps.hashing ?? defaultHasherOptions),
    refreshTokens: createRefreshTokenStore(db),
    accessTokens: deps.accessTokens,
    refreshTokenTtlSeconds: deps.refreshTokenTtlSeconds,
    newFamilyId: uuidv7,
    loginAttempts: createOneAtATime(loginAttemptsWaitingMax),
  };
  registerAuthRoutes(app, authDeps, deps.accessTokens);
  registerWebSessionRoutes(app, authDeps);
  const names = createHolderNames(logins, deps.registry);
  registerAccountRoutes(app, { ledger: deps.ledger, links, names, newIdempotencyKey: uuidv7 }, idempotency);
  const lookups = createLookupCounter(db);
  const lookupsPerMinuteMax = deps.recipientLookupsPerMinute ?? defaultRecipientLookupsPerMinute;
  registerTransferRoutes(
    app,
    {
      ledger: deps.ledger,
      links,
      names,
      lookups,
      lookupsPerMinuteMax,
      probes: createRecipientProbeGuard({ lookups, perMinuteMax: lookupsPerMinuteMax }),
      newIdempotencyKey: uuidv7,
    },
    idempotency,
  );
  registerDepositRoutes(
    app,
    {
      links,
      deposits: createDepositStore(db, deps.depositRequestedTopic, deps.depositWrites, deps.outboxNotifier),
    },
    idempotency,
  );
  registerInternalRoutes(app, links, db);
  if (deps.core !== undefined) registerCoreViewRoutes(app, deps.core);
  return app;
}
