import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import { createIdempotencyStore } from '@nuri/platform/idempotency';
import {
  guardUnmatchedInternalPaths,
  type InternalCallers,
  type InternalRoutePolicy,
  requireInternalToken,
} from '@nuri/platform/internal-auth';
import { createBrokerProbe } from '@nuri/platform/kafka/admin';
import { readOutboxBacklog } from '@nuri/platform/kafka/outbox';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { serveOpenApi } from '@nuri/platform/openapi';
import type { ServiceDb } from './db/database.ts';
import { createReconciliationStore, readPaymentsOverview } from './db/reconciliation-repository.ts';
import { createWalletStore } from './db/wallets-repository.ts';
import type { AccountLinks, PaymentStore } from './domain/payments.ts';
import type { TimeoutStore } from './domain/settlement.ts';
import { requireAccessToken } from './routes/authentication.ts';
import { registerOperationRoutes } from './routes/operations.ts';
import { registerPaymentRoutes } from './routes/payments.ts';
import { registerPointRoutes } from './routes/points.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  database: Database<ServiceDb>;
  kafkaBrokers: string[];
  /** Verifies users' access tokens (channel-user's JWKS in production, a local set in tests). */
  accessTokens: AccessTokenVerifier;
  /** channel-user's account links: who owns an account. */
  accountLinks: AccountLinks;
  /** The saga's payments (shared with the settled consumer and the timeout job). */
  payments: PaymentStore & Pick<TimeoutStore, 'retryStuck'>;
  /** NURI_INTERNAL_CALLERS: guards /internal/*. */
  internalCallers: InternalCallers;
  paymentTimeoutMs: number;
  attemptsMax: number;
}

const readinessTimeoutMs = 1_000;

const reports = [
  'GET /internal/v1/reconciliation',
  'GET /internal/v1/ops/outbox',
  'GET /internal/v1/ops/payments',
];

/**
 * Who may call what: the operator (`nuri reconcile`, `nuri payments retry`)
 * and the gateway (the operator console's reports, which change nothing); no
 * other service calls point.
 */
export const internalRoutePolicy: InternalRoutePolicy = {
  ops: [...reports, 'POST /internal/v1/payments/:paymentId/retry'],
  gateway: reports,
};

/** The point HTTP app; never listens (server.ts does). Kafka and the timeout job live beside it. */
export function buildApp(deps: AppDeps) {
  const brokerProbe = createBrokerProbe(deps.kafkaBrokers, 'point-readiness');
  const app = createHttpApp({
    name: 'point',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
      database: () => deps.database.ping(),
    },
    // Kafka is shown, not gating: charges need no broker, and payments wait in the outbox until it is back.
    reportedChecks: { kafka: () => brokerProbe.check(readinessTimeoutMs) },
  });
  app.addHook('onClose', () => brokerProbe.close());
  // Before any route: the gateway merges this document into GET /openapi.json.
  serveOpenApi(app, { title: 'point' });
  const { db } = deps.database;
  const idempotency = createIdempotencyStore(db);
  // Two encapsulated scopes: users (access token) and services (internal token).
  app.register(async (plain) => {
    const users = plain.withTypeProvider<TypeBoxTypeProvider>();
    requireAccessToken(users, deps.accessTokens);
    registerPointRoutes(users, { wallets: createWalletStore(db), idempotency });
    registerPaymentRoutes(users, { payments: deps.payments, accountLinks: deps.accountLinks, idempotency });
  });
  guardUnmatchedInternalPaths(app, deps.internalCallers);
  app.register(async (plain) => {
    const internal = plain.withTypeProvider<TypeBoxTypeProvider>();
    requireInternalToken(internal, { callers: deps.internalCallers, policy: internalRoutePolicy });
    registerOperationRoutes(internal, {
      stuck: deps.payments,
      reconciliation: createReconciliationStore(db, deps.attemptsMax),
      paymentTimeoutMs: deps.paymentTimeoutMs,
      outbox: () => readOutboxBacklog(db),
      paymentsOverview: (now, stuckListedMax) =>
        readPaymentsOverview(db, deps.attemptsMax, now, stuckListedMax),
    });
  });
  return app;
}
