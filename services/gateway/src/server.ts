import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis } from '@nuri/platform/redis';
import { runMain } from '@nuri/platform/service';
import { buildApp } from './app.ts';
import { loadServiceConfig, upstreamsOf } from './config.ts';

await runMain('gateway', async () => {
  const config = loadServiceConfig();
  const logger = createLogger({ name: 'gateway', level: config.NURI_LOG_LEVEL });
  const redis = createRedis({ url: config.NURI_REDIS_URL, name: 'gateway' });
  const app = buildApp({
    logger,
    metrics: createMetrics('gateway'),
    redis,
    upstreams: upstreamsOf(config),
    healthTimeoutMs: config.NURI_HEALTH_TIMEOUT_MS,
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_GATEWAY_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    onShutdown: [
      async () => {
        redis.disconnect();
      },
    ],
  });
});
