import { createHttpApp } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { type Redis, redisReadinessCheck } from '@nuri/platform/redis';
import { registerHealthRoute } from './routes/health.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  upstreams: Record<string, string>;
  healthTimeoutMs: number;
}

/**
 * The gateway app; never listens (server.ts does). So far: request ids,
 * problem+json errors, the aggregated GET /health. Routing, the JWT check and
 * rate limits arrive with the channel-zone issue; until then every other path
 * answers 404.
 */
export function buildApp(deps: AppDeps) {
  const checkRedis = () => redisReadinessCheck(deps.redis);
  const app = createHttpApp({
    name: 'gateway',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: { redis: checkRedis },
  });
  registerHealthRoute(app, {
    upstreams: deps.upstreams,
    checkSelf: checkRedis,
    timeoutMs: deps.healthTimeoutMs,
  });
  return app;
}
