import { setTraceparentSource } from '@nuri/contracts/events';
import { migrateToLatest } from '@nuri/platform/db';
import { runServer } from '@nuri/platform/http';
import { parseInternalCallers } from '@nuri/platform/internal-auth';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createPeriodicPass, inBatches } from '@nuri/platform/periodic';
import { brokerList, databaseUrl, prefixTopics, runMain } from '@nuri/platform/service';
import { startTracing } from '@nuri/platform/tracing';
import { buildApp } from './app.ts';
import { loadServiceConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrations } from './db/migrations.ts';
import { pruneTransferDailyTotals, transferTotalsKeptDays } from './db/transfers-repository.ts';
import { createEventRuntime } from './events/runtime.ts';
import { defaultTopics } from './events/topics.ts';

await runMain('core-payment', async () => {
  const config = loadServiceConfig();
  startTracing({ serviceName: 'core-payment', config, traceEvents: setTraceparentSource });
  const logger = createLogger({ name: 'core-payment', level: config.NURI_LOG_LEVEL });
  const metrics = createMetrics('core-payment');
  const database = openDatabase(config);
  const brokers = brokerList(config.NURI_KAFKA_BROKERS);
  // Idempotent and guarded by Kysely's lock table, so several instances starting together migrate once.
  await migrateToLatest(database.db, migrations);
  const events = createEventRuntime({
    db: database.db,
    brokers,
    topics: prefixTopics(defaultTopics, config.NURI_KAFKA_TOPIC_PREFIX),
    groupIds: {
      deposits: config.NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID,
      payments: config.NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID,
      coupons: config.NURI_CORE_PAYMENT_COUPONS_GROUP_ID,
    },
    depositConsumers: config.NURI_CORE_PAYMENT_DEPOSIT_CONSUMERS,
    batchSizesMax: {
      deposits: config.NURI_CORE_PAYMENT_DEPOSIT_BATCH_SIZE_MAX,
      payments: config.NURI_CORE_PAYMENT_PAYMENT_BATCH_SIZE_MAX,
      coupons: config.NURI_CORE_PAYMENT_COUPON_BATCH_SIZE_MAX,
      outbox: config.NURI_CORE_PAYMENT_OUTBOX_BATCH_SIZE_MAX,
    },
    logger,
    registry: metrics.registry,
    listenUrl: databaseUrl(config.NURI_PG_URL, config.NURI_CORE_PAYMENT_DB),
  });
  const app = buildApp({
    logger,
    metrics,
    database,
    kafkaBrokers: brokers,
    internalCallers: parseInternalCallers(config.NURI_INTERNAL_CALLERS),
    withdrawalBatching: {
      batchSizeMax: config.NURI_CORE_PAYMENT_WITHDRAWAL_BATCH_SIZE_MAX,
      lanes: config.NURI_CORE_PAYMENT_WITHDRAWAL_LANES,
      queueLengthMax: config.NURI_CORE_PAYMENT_WITHDRAWAL_QUEUE_LENGTH_MAX,
    },
    transferDailyLimit: BigInt(config.NURI_CORE_PAYMENT_TRANSFER_DAILY_LIMIT),
  });
  // Every instance runs it: deleting rows past a cutoff is idempotent, so no lease is needed.
  const totalsBatchMax = 10_000;
  const totalsPruner = createPeriodicPass({
    name: 'daily transfer totals of past days deleted',
    logger,
    intervalMs: 3_600_000,
    // Soon after start too: an instance restarted more often than hourly would otherwise never prune.
    firstPassAfterMs: 60_000,
    pass: () =>
      inBatches(totalsBatchMax, () =>
        pruneTransferDailyTotals(database.db, transferTotalsKeptDays, totalsBatchMax),
      ),
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_CORE_PAYMENT_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    instanceRestarts: config.NURI_INSTANCE_RESTARTS,
    // After HTTP drains: consumers stop, the relay publishes what they wrote, then the pool closes.
    onShutdown: [() => events.stop(), () => totalsPruner.stop(), () => database.close()],
  });
  // Listening first: HTTP does not wait for Kafka. The consumers join their
  // groups in the background (retrying while the broker is away).
  events.start().catch((error: unknown) => logger.error({ err: error }, 'starting the Kafka side failed'));
  totalsPruner.start();
});
