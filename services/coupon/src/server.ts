import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis } from '@nuri/platform/redis';
import { brokerList, runMain } from '@nuri/platform/service';
import { buildApp } from './app.ts';
import { loadServiceConfig } from './config.ts';
import { openDatabase } from './db/database.ts';

await runMain('coupon', async () => {
  const config = loadServiceConfig();
  const logger = createLogger({ name: 'coupon', level: config.NURI_LOG_LEVEL });
  const database = openDatabase(config);
    const redis = createRedis({ url: config.NURI_REDIS_URL, name: 'coupon' });
  const app = buildApp({
    logger,
    metrics: createMetrics('coupon'),
    database,
      kafkaBrokers: brokerList(config.NURI_KAFKA_BROKERS),
      redis,
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_COUPON_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    onShutdown: [() => database.close(), async () => {
          redis.disconnect();
        }],
  });
});
