import { setTraceparentSource } from '@nuri/contracts/events';

// Password hashes (argon2id) and the token crypto both run on libuv's pool;
// hashing is capped at two at a time (auth/passwords.ts), so a pool of eight
// keeps threads free for tokens however many logins arrive. Read by libuv on
// its first use, which comes after this line (module loading is synchronous).
process.env.UV_THREADPOOL_SIZE ??= '8';

import { migrateToLatest } from '@nuri/platform/db';
import { runServer } from '@nuri/platform/http';
import { createIdempotencyStore } from '@nuri/platform/idempotency';
import { parseInternalCallers } from '@nuri/platform/internal-auth';
import { createOutboxNotifier } from '@nuri/platform/kafka/outbox';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { brokerList, prefixTopics, runMain } from '@nuri/platform/service';
import { startTracing } from '@nuri/platform/tracing';
import { parseUrlList } from '@nuri/platform/upstream';
import { buildApp } from './app.ts';
import { createAccessTokenIssuer } from './auth/access-tokens.ts';
import { createCoreClient } from './clients/core-client.ts';
import { createCoreLedger } from './clients/core-payment-client.ts';
import { createUserRegistry } from './clients/core-user-client.ts';
import { loadServiceConfig, signingKeysFromConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { createLoginStore } from './db/logins-repository.ts';
import { migrations } from './db/migrations.ts';
import { createDepositResender } from './events/deposit-resender.ts';
import { createEventRuntime } from './events/runtime.ts';
import { defaultTopics } from './events/topics.ts';
import { startHousekeeping, startSignupCompletion } from './housekeeping.ts';

await runMain('channel-user', async () => {
  const config = loadServiceConfig();
  const topics = prefixTopics(defaultTopics, config.NURI_KAFKA_TOPIC_PREFIX);
  startTracing({ serviceName: 'channel-user', config, traceEvents: setTraceparentSource });
  const logger = createLogger({ name: 'channel-user', level: config.NURI_LOG_LEVEL });
  const metrics = createMetrics('channel-user');
  const database = openDatabase(config);
  const brokers = brokerList(config.NURI_KAFKA_BROKERS);
  // Idempotent and guarded by Kysely's lock table, so several instances starting together migrate once.
  await migrateToLatest(database.db, migrations);
  const coreOptions = {
    internalToken: config.NURI_INTERNAL_TOKEN,
    timeoutMs: config.NURI_CORE_TIMEOUT_MS,
    deadlineMs: config.NURI_CORE_DEADLINE_MS,
    connectionsMax: config.NURI_CORE_CONNECTIONS_MAX,
    logger,
  };
  const coreUser = createCoreClient({
    ...coreOptions,
    name: 'core-user',
    urls: parseUrlList(config.NURI_CORE_USER_URL),
  });
  const corePayment = createCoreClient({
    ...coreOptions,
    name: 'core-payment',
    urls: parseUrlList(config.NURI_CORE_PAYMENT_URL),
  });
  const outboxNotifier = createOutboxNotifier();
  const events = createEventRuntime({
    db: database.db,
    brokers,
    topics,
    depositsGroupId: config.NURI_CHANNEL_DEPOSITS_GROUP_ID,
    depositBatchSizeMax: config.NURI_CHANNEL_DEPOSIT_BATCH_SIZE_MAX,
    outboxBatchSizeMax: config.NURI_CHANNEL_OUTBOX_BATCH_SIZE_MAX,
    logger,
    registry: metrics.registry,
    relayPollIntervalMs: config.NURI_CHANNEL_OUTBOX_POLL_INTERVAL_MS,
    outboxNotifier,
  });
  const app = buildApp({
    logger,
    metrics,
    database,
    kafkaBrokers: brokers,
    internalCallers: parseInternalCallers(config.NURI_INTERNAL_CALLERS),
    accessTokens: createAccessTokenIssuer(
      signingKeysFromConfig(config),
      config.NURI_ACCESS_TOKEN_TTL_SECONDS,
    ),
    refreshTokenTtlSeconds: config.NURI_REFRESH_TOKEN_TTL_SECONDS,
    registry: createUserRegistry(coreUser),
    ledger: createCoreLedger(corePayment),
    core: { coreUser, corePayment },
    depositRequestedTopic: topics.depositRequested,
    recipientLookupsPerMinute: config.NURI_CHANNEL_RECIPIENT_LOOKUPS_PER_MINUTE,
    outboxNotifier,
    depositWrites: {
      batchSizeMax: config.NURI_CHANNEL_DEPOSIT_WRITE_BATCH_SIZE_MAX,
      writesInFlightMax: config.NURI_CHANNEL_DEPOSIT_WRITES_IN_FLIGHT_MAX,
      queueLengthMax: config.NURI_CHANNEL_DEPOSIT_WRITE_QUEUE_LENGTH_MAX,
    },
  });
  const stopHousekeeping = startHousekeeping(database.db, createIdempotencyStore(database.db), logger);
  const stopSignupCompletion = startSignupCompletion(
    createLoginStore(database.db),
    createUserRegistry(coreUser),
    logger,
  );
  const depositResender = createDepositResender({
    db: database.db,
    depositRequestedTopic: topics.depositRequested,
    logger,
    registry: metrics.registry,
    resendAfterMs: config.NURI_CHANNEL_DEPOSIT_RESEND_AFTER_MS,
    resendBackoffMaxMs: config.NURI_CHANNEL_DEPOSIT_RESEND_BACKOFF_MAX_MS,
    scanIntervalMs: config.NURI_CHANNEL_DEPOSIT_RESEND_SCAN_INTERVAL_MS,
    batchSizeMax: 500,
  });
  depositResender.start();
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_CHANNEL_USER_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    instanceRestarts: config.NURI_INSTANCE_RESTARTS,
    // After HTTP drains: the consumer and relay stop, then the pools close.
    onShutdown: [
      async () => stopHousekeeping(),
      async () => stopSignupCompletion(),
      () => depositResender.stop(),
      () => events.stop(),
      () => Promise.all([coreUser.close(), corePayment.close()]).then(() => undefined),
      () => database.close(),
    ],
  });
  // Listening first: HTTP does not wait for Kafka. The consumers join their
  // groups in the background (retrying while the broker is away).
  events.start().catch((error: unknown) => logger.error({ err: error }, 'starting the Kafka side failed'));
});
