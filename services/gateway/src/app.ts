import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import { createHttpApp } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { type Redis, redisReadinessCheck } from '@nuri/platform/redis';
import type { UpstreamProxy } from './proxy.ts';
import type { RateLimiter } from './rate-limit.ts';
import { registerHealthRoute } from './routes/health.ts';
import { registerProxyRoutes } from './routes/proxy.ts';
import { createCachingVerifier } from './token-cache.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  /** Every service, core included, for the aggregated GET /health. */
  upstreams: Record<string, string>;
  healthTimeoutMs: number;
  /** Forwards to the channel services. */
  proxy: UpstreamProxy;
  /** Access tokens, against channel-user's JWKS; the app remembers the ones that verified (token-cache.ts). */
  verifier: AccessTokenVerifier;
  rateLimiter: RateLimiter;
}

/**
 * The gateway app; never listens (server.ts does): request ids, problem+json
 * errors, the aggregated GET /health, and the public API forwarded to the
 * channel services after the path, token and rate-limit checks.
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
  registerProxyRoutes(app, {
    proxy: deps.proxy,
    verifier: createCachingVerifier(deps.verifier),
    rateLimiter: deps.rateLimiter,
  });
  return app;
}
