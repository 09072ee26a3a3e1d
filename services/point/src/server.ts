import { setTraceparentSource } from '@nuri/contracts/events';
import {
  createCachingAccessTokenVerifier,
  createRemoteAccessTokenVerifier,
} from '@nuri/platform/access-token';
import { migrateToLatest } from '@nuri/platform/db';
import { runServer } from '@nuri/platform/http';
import { createIdempotencyStore } from '@nuri/platform/idempotency';
import { parseInternalCallers } from '@nuri/platform/internal-auth';
import { createOutboxNotifier } from '@nuri/platform/kafka/outbox';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createPeriodicPass, inBatches } from '@nuri/platform/periodic';
import { brokerList, prefixTopics, runMain } from '@nuri/platform/service';
import { startTracing } from '@nuri/platform/tracing';
import { parseUrlList } from '@nuri/platform/upstream';
import { buildApp } from './app.ts';
import { createAccountLinkClient } from './clients/account-links.ts';
import { loadServiceConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrations } from './db/migrations.ts';
import { createPaymentRepository } from './db/payments-repository.ts';
import { paymentRequestedMessage } from './events/payment-requested.ts';
import { createEventRuntime } from './events/runtime.ts';
import { createTimeoutResender } from './jobs/timeout-resender.ts';
import { registerPaymentMetrics } from './payment-metrics.ts';

await runMain('point', async () => {
  const config = loadServiceConfig();
  startTracing({ serviceName: 'point', config, traceEvents: setTraceparentSource });
  const logger = createLogger({ name: 'point', level: config.NURI_LOG_LEVEL });
  const metrics = createMetrics('point');
  const database = openDatabase(config);
  const brokers = brokerList(config.NURI_KAFKA_BROKERS);
  // Idempotent and guarded by Kysely's lock table, so several instances starting together migrate once.
  await migrateToLatest(database.db, migrations);
  const topics = prefixTopics(
    {
      paymentRequested: config.NURI_POINT_PAYMENT_REQUESTED_TOPIC,
      paymentSettled: config.NURI_POINT_PAYMENT_SETTLED_TOPIC,
    },
    config.NURI_KAFKA_TOPIC_PREFIX,
  );
  // MySQL has no LISTEN/NOTIFY: the repository wakes the relay itself after each commit that wrote a cash request.
  const outboxNotifier = createOutboxNotifier();
  const payments = createPaymentRepository(database.db, {
    notifier: outboxNotifier,
    requestCash: (payment, attempt) => paymentRequestedMessage(topics.paymentRequested, payment, attempt),
    retryPolicy: {
      timeoutMs: config.NURI_POINT_PAYMENT_TIMEOUT_MS,
      attemptsMax: config.NURI_POINT_PAYMENT_ATTEMPTS_MAX,
      backoffFactor: config.NURI_POINT_PAYMENT_BACKOFF_FACTOR,
      backoffMaxMs: config.NURI_POINT_PAYMENT_BACKOFF_MAX_MS,
    },
  });
  const events = createEventRuntime({
    db: database.db,
    brokers,
    topics,
    groupId: config.NURI_POINT_SETTLED_GROUP_ID,
    settlements: payments,
    settledBatchSizeMax: config.NURI_POINT_SETTLED_BATCH_SIZE_MAX,
    outboxBatchSizeMax: config.NURI_POINT_OUTBOX_BATCH_SIZE_MAX,
    relayPollIntervalMs: config.NURI_POINT_OUTBOX_POLL_INTERVAL_MS,
    outboxNotifier,
    logger,
    registry: metrics.registry,
  });
  const timeouts = createTimeoutResender({
    store: payments,
    logger,
    registry: metrics.registry,
    scanIntervalMs: config.NURI_POINT_TIMEOUT_SCAN_INTERVAL_MS,
    batchSizeMax: config.NURI_POINT_TIMEOUT_SCAN_BATCH_SIZE_MAX,
  });
  const accountLinks = createAccountLinkClient({
    urls: parseUrlList(config.NURI_CHANNEL_USER_URL),
    internalToken: config.NURI_INTERNAL_TOKEN,
    timeoutMs: config.NURI_POINT_ACCOUNT_CHECK_TIMEOUT_MS,
    cacheTtlMs: config.NURI_POINT_ACCOUNT_LINK_CACHE_TTL_MS,
  });
  const app = buildApp({
    logger,
    metrics,
    database,
    kafkaBrokers: brokers,
    // Each token verified once, then remembered until it expires: the signature check was a payment's largest CPU cost here.
    accessTokens: createCachingAccessTokenVerifier(
      createRemoteAccessTokenVerifier({
        jwksUrls: parseUrlList(config.NURI_CHANNEL_USER_URL).map((url) => `${url}/.well-known/jwks.json`),
      }),
    ),
    accountLinks,
    payments,
    internalCallers: parseInternalCallers(config.NURI_INTERNAL_CALLERS),
    paymentTimeoutMs: config.NURI_POINT_PAYMENT_TIMEOUT_MS,
    attemptsMax: config.NURI_POINT_PAYMENT_ATTEMPTS_MAX,
  });
  registerPaymentMetrics({
    registry: metrics.registry,
    db: database.db,
    attemptsMax: config.NURI_POINT_PAYMENT_ATTEMPTS_MAX,
    logger,
  });
  // Keys past retention (48 hours) deleted, as channel-user does (housekeeping.ts
  // there): every instance runs it, since deleting rows past a cutoff is idempotent.
  const keyPurgeBatchMax = 5_000;
  const idempotency = createIdempotencyStore(database.db);
  const keyPurge = createPeriodicPass({
    name: 'idempotency keys past retention deleted',
    logger,
    intervalMs: 10 * 60_000,
    firstPassAfterMs: 60_000,
    pass: () => inBatches(keyPurgeBatchMax, () => idempotency.purgeExpired(keyPurgeBatchMax)),
  });
  timeouts.start();
  keyPurge.start();
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_POINT_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    instanceRestarts: config.NURI_INSTANCE_RESTARTS,
    // After HTTP drains: no more re-sends, the consumer stops, the relay
    // publishes what is left, then the clients and the pool close.
    onShutdown: [
      () => timeouts.stop(),
      () => keyPurge.stop(),
      () => events.stop(),
      () => accountLinks.close(),
      () => database.close(),
    ],
  });
  // Listening first: HTTP does not wait for Kafka. The consumers join their
  // groups in the background (retrying while the broker is away).
  events.start().catch((error: unknown) => logger.error({ err: error }, 'starting the Kafka side failed'));
});
