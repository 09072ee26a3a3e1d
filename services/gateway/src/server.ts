import { createRemoteAccessTokenVerifier } from '@nuri/platform/access-token';
import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis } from '@nuri/platform/redis';
import { runMain } from '@nuri/platform/service';
import { buildApp } from './app.ts';
import { channelUpstreamsOf, loadServiceConfig, upstreamsOf } from './config.ts';
import { createProxy } from './proxy.ts';
import { createRateLimiter } from './rate-limit.ts';

await runMain('gateway', async () => {
  const config = loadServiceConfig();
  const logger = createLogger({ name: 'gateway', level: config.NURI_LOG_LEVEL });
  const redis = createRedis({ url: config.NURI_REDIS_URL, name: 'gateway', logger });
  const proxy = createProxy({
    upstreams: channelUpstreamsOf(config),
    timeoutMs: config.NURI_UPSTREAM_TIMEOUT_MS,
    connectionsMax: config.NURI_UPSTREAM_CONNECTIONS_MAX,
  });
  const rateLimiter = createRateLimiter({
    redis,
    logger,
    ipMax: config.NURI_RATE_LIMIT_IP_MAX,
    userMax: config.NURI_RATE_LIMIT_USER_MAX,
    windowMs: config.NURI_RATE_LIMIT_WINDOW_MS,
    syncIntervalMs: config.NURI_RATE_LIMIT_SYNC_INTERVAL_MS,
  });
  const app = buildApp({
    logger,
    metrics: createMetrics('gateway'),
    redis,
    upstreams: upstreamsOf(config),
    healthTimeoutMs: config.NURI_HEALTH_TIMEOUT_MS,
    proxy,
    verifier: createRemoteAccessTokenVerifier({
      jwksUrl: `${config.NURI_CHANNEL_USER_URL}/.well-known/jwks.json`,
      cacheMaxAgeMs: config.NURI_JWKS_CACHE_MAX_AGE_MS,
    }),
    rateLimiter,
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_GATEWAY_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    onShutdown: [
      () => proxy.close(),
      () => rateLimiter.close(),
      async () => {
        redis.disconnect();
      },
    ],
  });
});
