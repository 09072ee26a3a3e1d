import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import {
  type InternalCallers,
  type InternalRoutePolicy,
  requireInternalToken,
} from '@nuri/platform/internal-auth';
import { createBrokerProbe } from '@nuri/platform/kafka/admin';
import { readOutboxBacklog } from '@nuri/platform/kafka/outbox';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { createAccountStore } from './db/accounts-repository.ts';
import { createCouponStore } from './db/coupons-repository.ts';
import type { ServiceDb } from './db/database.ts';
import { createReconciliationStore } from './db/reconciliation-repository.ts';
import { createTransferStore, type TransferBatching } from './db/transfers-repository.ts';
import {
  createWithdrawalStore,
  defaultWithdrawalBatching,
  type WithdrawalBatching,
} from './db/withdrawals-repository.ts';
import { defaultTransferDailyLimit } from './domain/transfers.ts';
import { registerAccountRoutes } from './routes/accounts.ts';
import { registerOperationRoutes } from './routes/operations.ts';
import { registerTransferRoutes } from './routes/transfers.ts';
import { registerWithdrawalRoutes } from './routes/withdrawals.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  database: Database<ServiceDb>;
  kafkaBrokers: string[];
  /** NURI_INTERNAL_CALLERS: every business route needs one of their tokens; health and metrics stay open. */
  internalCallers: InternalCallers;
  /** Group-commit limits for withdrawals; defaults when omitted. */
  withdrawalBatching?: WithdrawalBatching;
  /** A user's transfers out per Asia/Seoul day; docs/api.md's default when omitted. */
  transferDailyLimit?: bigint;
  /** Group-commit limits for transfers; defaults when omitted. */
  transferBatching?: TransferBatching;
}

const readinessTimeoutMs = 1_000;

const recordedCount = 'GET /internal/v1/coupon-campaigns/:campaignId/recorded-count';
const reports = [
  'GET /internal/v1/reconciliation',
  'GET /internal/v1/deposit-totals',
  'GET /internal/v1/ops/outbox',
];

/**
 * Who may call what. channel-user opens accounts, reads them, withdraws and
 * transfers for its customers; coupon only compares its issued counts with what the ledger
 * recorded; the operator (`nuri reconcile`) and the gateway (the operator
 * console's reports) only read totals. A compromised coupon, the gateway, or
 * an operator's leaked token can move no money.
 */
export const internalRoutePolicy: InternalRoutePolicy = {
  'channel-user': 'any',
  coupon: [recordedCount],
  ops: [...reports, recordedCount],
  // No gateway: nothing goes from the edge to the core (its console reads these relayed by channel-user).
};

/** The core-payment HTTP app; never listens (server.ts does). Kafka consumers live in events/, started by server.ts. */
export function buildApp(deps: AppDeps) {
  const brokerProbe = createBrokerProbe(deps.kafkaBrokers, 'core-payment-readiness');
  const app = createHttpApp({
    name: 'core-payment',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
      database: () => deps.database.ping(),
    },
    // Kafka is shown, not gating: withdrawals and account opening need no broker, and the
    // consumers wait for it by themselves.
    reportedChecks: { kafka: () => brokerProbe.check(readinessTimeoutMs) },
  });
  app.addHook('onClose', () => brokerProbe.close());
  requireInternalToken(app, { callers: deps.internalCallers, policy: internalRoutePolicy });
  const { db } = deps.database;
  registerAccountRoutes(app, createAccountStore(db));
  registerWithdrawalRoutes(
    app,
    createWithdrawalStore(db, deps.withdrawalBatching ?? defaultWithdrawalBatching),
  );
  registerTransferRoutes(
    app,
    createTransferStore(db, {
      dailyLimit: deps.transferDailyLimit ?? defaultTransferDailyLimit,
      ...(deps.transferBatching === undefined ? {} : { batching: deps.transferBatching }),
    }),
  );
  registerOperationRoutes(app, {
    coupons: createCouponStore(db),
    reconciliation: createReconciliationStore(db),
    outbox: () => readOutboxBacklog(db),
  });
  return app;
}
