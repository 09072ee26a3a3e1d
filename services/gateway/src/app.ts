import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import { createHttpApp } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { type Redis, redisReadinessCheck } from '@nuri/platform/redis';
import type { Upstream } from '@nuri/platform/upstream';
import type { ServiceName } from './config.ts';
import { createProxy } from './proxy.ts';
import type { RateLimiter } from './rate-limit.ts';
import { registerHealthRoute } from './routes/health.ts';
import { registerProxyRoutes } from './routes/proxy.ts';
import { createCachingVerifier } from './token-cache.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  /**
   * Every service behind the gateway, core included, each over its instances.
   * The channel services are forwarded to; the core ones are only probed, for
   * the aggregated GET /health.
   */
  services: Readonly<Record<ServiceName, Upstream>>;
  /** Every gateway instance (for GET /health) when there are several. */
  gateways?: Upstream;
  /** Access tokens, against channel-user's JWKS; the app remembers the ones that verified (token-cache.ts). */
  verifier: AccessTokenVerifier;
  rateLimiter: RateLimiter;
  /** Per-IP limits per minute of the routes that cost a password hash, and of GET /health. */
  routeLimiters: { signup: RateLimiter; login: RateLimiter; health: RateLimiter };
  /**
   * The public listener's port: /metrics and /health/live|ready answer there
   * 404, only on the instance's own (ops) port. Undefined: every port serves them.
   */
  publicPort?: number;
  /** Proxies in front whose X-Forwarded-For and -Proto are believed (0: none). */
  trustedProxyHops?: number;
}

const operationalPaths = new Set(['/metrics', '/health/live', '/health/ready']);

/**
 * The gateway app; never listens (server.ts does): request ids, problem+json
 * errors, the aggregated GET /health, and the public API forwarded to the
 * channel services after the path, token and rate-limit checks.
 */
export function buildApp(deps: AppDeps) {
  const app = createHttpApp({
    name: 'gateway',
    logger: deps.logger,
    metrics: deps.metrics,
    // Shown, not gating: without Redis the rate limits are kept by each instance alone.
    reportedChecks: { redis: () => redisReadinessCheck(deps.redis) },
    trustedProxyHops: deps.trustedProxyHops ?? 0,
  });
  const { publicPort } = deps;
  app.addHook('onRequest', (request, reply, done) => {
    if (publicPort !== undefined && request.socket.localPort === publicPort) {
      const path = request.url.split('?')[0]!;
      if (operationalPaths.has(path)) {
        done(new AppError('NOT_FOUND', 404, `No route for ${request.method} ${path}`));
        return;
      }
    }
    // Behind a TLS terminator (a trusted proxy saying https), browsers are told to stay on HTTPS.
    if (request.protocol === 'https')
      reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    done();
  });
  registerHealthRoute(app, {
    services: deps.services,
    gateways: deps.gateways,
    limiter: deps.routeLimiters.health,
  });
  registerProxyRoutes(app, {
    proxy: createProxy(deps.services),
    verifier: createCachingVerifier(deps.verifier),
    rateLimiter: deps.rateLimiter,
    routeLimiters: deps.routeLimiters,
  });
  return app;
}
