import { setTraceparentSource, validateEvent } from '@nuri/contracts/events';
import { createRemoteAccessTokenVerifier } from '@nuri/platform/access-token';
import { migrateToLatest } from '@nuri/platform/db';
import { runServer } from '@nuri/platform/http';
import { parseInternalCallers } from '@nuri/platform/internal-auth';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis } from '@nuri/platform/redis';
import { brokerList, prefixTopics, runMain } from '@nuri/platform/service';
import { startTracing } from '@nuri/platform/tracing';
import { parseUrlList } from '@nuri/platform/upstream';
import { buildApp } from './app.ts';
import { createCorePaymentClient } from './clients/core-payment.ts';
import { loadServiceConfig } from './config.ts';
import { createCampaignRepository } from './db/campaigns-repository.ts';
import { createCouponRepository } from './db/coupons-repository.ts';
import { openDatabase } from './db/database.ts';
import { migrations } from './db/migrations.ts';
import { resendUnrecorded } from './domain/recovery.ts';
import { createCouponEventsConsumer } from './events/coupon-events-consumer.ts';
import { createCouponHandOff, handOffProducerInFlightMax } from './events/hand-off.ts';
import { createMirrorProgress } from './events/mirror-progress.ts';
import { createPeriodicJob } from './jobs/recovery.ts';
import { createCouponMetrics } from './metrics.ts';
import { createCampaignStore } from './redis/campaign-store.ts';

await runMain('coupon', async () => {
  const config = loadServiceConfig();
  startTracing({ serviceName: 'coupon', config, traceEvents: setTraceparentSource });
  const logger = createLogger({ name: 'coupon', level: config.NURI_LOG_LEVEL });
  const metrics = createMetrics('coupon');
  const couponMetrics = createCouponMetrics(metrics.registry);
  const database = openDatabase(config);
  // Idempotent and guarded by Kysely's lock table, so several instances starting together migrate once.
  await migrateToLatest(database.db, migrations);
  // Hundreds of requests at once each run the issue script and then the ack
  // script: auto-pipelined, they leave many to a write instead of one each.
  const redis = createRedis({ url: config.NURI_REDIS_URL, name: 'coupon', logger, autoPipelining: true });
  const brokers = brokerList(config.NURI_KAFKA_BROKERS);
  const topics = prefixTopics(
    {
      couponIssued: config.NURI_COUPON_ISSUED_TOPIC,
      couponRecorded: config.NURI_COUPON_RECORDED_TOPIC,
    },
    config.NURI_KAFKA_TOPIC_PREFIX,
  );
  const producer = createEventProducer({
    brokers,
    clientId: 'coupon',
    inFlightMax: handOffProducerInFlightMax,
    acquireTimeoutMs: config.NURI_COUPON_SEND_WAIT_MS,
    requestTimeoutMs: config.NURI_COUPON_SEND_TIMEOUT_MS,
    validate: (_topic, event) => validateEvent((event as { type: string }).type, event),
    logger,
  });
  const handOff = createCouponHandOff({
    producer,
    topic: topics.couponIssued,
    windowMax: config.NURI_COUPON_SEND_WINDOW_MAX,
    batchSizeMax: config.NURI_COUPON_SEND_BATCH_SIZE_MAX,
    waitMs: config.NURI_COUPON_SEND_WAIT_MS,
    queueWaitMaxMs: config.NURI_COUPON_SEND_QUEUE_WAIT_MAX_MS,
    onBatch: (size, seconds, ok) => {
      couponMetrics.handOffBatchSize.observe(size);
      couponMetrics.handOffDuration.observe({ outcome: ok ? 'acked' : 'failed' }, seconds);
    },
  });
  // The consumer and the recovery job get their own connection: a batch of
  // hundreds of scripts must not queue ahead of a request's issue script.
  const backgroundRedis = createRedis({ url: config.NURI_REDIS_URL, name: 'coupon-background', logger });
  const store = createCampaignStore(backgroundRedis);
  const coupons = createCouponRepository(database.db);
  const consumer = createCouponEventsConsumer({
    brokers,
    groupId: config.NURI_COUPON_EVENTS_GROUP_ID,
    topics,
    batchSizeMax: config.NURI_COUPON_EVENTS_BATCH_SIZE_MAX,
    coupons,
    store,
    metrics: couponMetrics,
    dlqProducer: producer,
    logger,
    registry: metrics.registry,
  });
  const recovery = createPeriodicJob({
    name: 'coupon-recovery',
    intervalMs: config.NURI_COUPON_RECOVERY_INTERVAL_MS,
    logger,
    work: () =>
      resendUnrecorded({
        campaigns: createCampaignRepository(database.db),
        live: store,
        handOff,
        onResent: (count) => couponMetrics.recovered.inc(count),
        graceMs: config.NURI_COUPON_RECOVERY_GRACE_MS,
      }),
  });
  const core = createCorePaymentClient({
    urls: parseUrlList(config.NURI_CORE_PAYMENT_URL),
    internalToken: config.NURI_INTERNAL_TOKEN,
    timeoutMs: config.NURI_CORE_PAYMENT_TIMEOUT_MS,
  });
  const app = buildApp({
    logger,
    metrics,
    couponMetrics,
    database,
    kafkaBrokers: brokers,
    redis,
    accessTokens: createRemoteAccessTokenVerifier({
      jwksUrls: parseUrlList(config.NURI_CHANNEL_USER_URL).map((url) => `${url}/.well-known/jwks.json`),
    }),
    adminToken: config.NURI_ADMIN_TOKEN,
    internalCallers: parseInternalCallers(config.NURI_INTERNAL_CALLERS),
    recoveryGraceMs: config.NURI_COUPON_RECOVERY_GRACE_MS,
    handOff,
    core,
    mirror: createMirrorProgress({
      brokers,
      topic: topics.couponIssued,
      groupId: config.NURI_COUPON_EVENTS_GROUP_ID,
    }),
    rebuild: {
      settleMs: config.NURI_COUPON_REBUILD_SETTLE_MS,
      timeoutMs: config.NURI_COUPON_REBUILD_TIMEOUT_MS,
      // A request waits no longer than a send may; a rebuild in progress answers 503 (safe to retry).
      requestWaitMs: config.NURI_COUPON_SEND_WAIT_MS,
    },
  });
  recovery.start();
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_COUPON_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    instanceRestarts: config.NURI_INSTANCE_RESTARTS,
    // After HTTP drains (every in-flight hand-off answered): no new re-sends,
    // then the consumer, then the producer they share, then the stores.
    onShutdown: [
      () => recovery.stop(),
      () => consumer.stop(),
      () => producer.close(),
      () => core.close(),
      () => database.close(),
      async () => {
        await Promise.all([redis.quit(), backgroundRedis.quit()]);
      },
    ],
  });
  // Listening first: HTTP does not wait for Kafka. The consumers join their
  // groups in the background (retrying while the broker is away).
  consumer.start().catch((error: unknown) => logger.error({ err: error }, 'starting the Kafka side failed'));
});
