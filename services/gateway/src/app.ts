import { type AccessTokenVerifier, createCachingAccessTokenVerifier } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import { createHttpApp, operationalRoutes } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { describeRoutes } from '@nuri/platform/openapi';
import { type Redis, redisReadinessCheck } from '@nuri/platform/redis';
import type { Upstream } from '@nuri/platform/upstream';
import type { ServiceName } from './config.ts';
import type { KeyScope } from './key-scope.ts';
import { apiTitle, isForwardingRoute } from './openapi/document.ts';
import { createProxy } from './proxy.ts';
import type { RateLimiter } from './rate-limit.ts';
import { type AdminRouteDeps, registerAdminRoutes } from './routes/admin.ts';
import { registerConsoleRoutes } from './routes/console.ts';
import { registerDocsRoutes } from './routes/docs.ts';
import { registerHealthRoute } from './routes/health.ts';
import { registerProxyRoutes } from './routes/proxy.ts';

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
  /** Access tokens, against channel-user's JWKS; the app remembers the ones that verified (the platform's caching verifier). */
  verifier: AccessTokenVerifier;
  rateLimiter: RateLimiter;
  /** Which service a user's Idempotency-Key belongs to: the same key at the other is 422 (key-scope.ts). */
  keyScope: KeyScope;
  /** Per-IP limits per minute of the routes that cost a password hash, and of GET /health. */
  routeLimiters: { signup: RateLimiter; login: RateLimiter; health: RateLimiter };
  /**
   * The public listener's port: /metrics and /health/live|ready answer there
   * 404, only on the instance's own (ops) port. Undefined: every port serves them.
   */
  publicPort?: number;
  /** Proxies in front whose X-Forwarded-For and -Proto are believed (0: none). */
  trustedProxyHops?: number;
  /** The operator console's API (routes/admin.ts); undefined: /api/v1/admin/* but the campaigns is 404. */
  admin?: Omit<AdminRouteDeps, 'rateLimiter'>;
  /** The built web console (routes/console.ts); undefined: no console (tests of the API alone). */
  webDir?: string;
}

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
    // The edge starts every trace: a client's traceparent is not believed (tracing.ts).
    traceparentFromClient: false,
  });
  // Before any route, so that every route declared after it is described (GET /openapi.json).
  describeRoutes(app, { title: apiTitle, isHidden: isForwardingRoute });
  const { publicPort } = deps;
  app.addHook('onRequest', (request, reply, done) => {
    // By the route the router matched, not the URL as sent: `/%6detrics` and `/metrics#x` reach /metrics too.
    if (publicPort !== undefined && request.socket.localPort === publicPort) {
      const route = request.routeOptions.url;
      if (route !== undefined && operationalRoutes.has(route)) {
        done(new AppError('NOT_FOUND', 404, `No route for ${request.method} ${route}`));
        return;
      }
    }
    // Behind a TLS terminator (a trusted proxy saying https), browsers are told to stay on HTTPS.
    if (request.protocol === 'https')
      reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    done();
  });
  registerDocsRoutes(app, { services: deps.services, logger: deps.logger });
  registerHealthRoute(app, {
    services: deps.services,
    gateways: deps.gateways,
    limiter: deps.routeLimiters.health,
  });
  if (deps.admin !== undefined) registerAdminRoutes(app, { ...deps.admin, rateLimiter: deps.rateLimiter });
  if (deps.webDir !== undefined) registerConsoleRoutes(app, { webDir: deps.webDir });
  registerProxyRoutes(app, {
    proxy: createProxy(deps.services),
    verifier: createCachingAccessTokenVerifier(deps.verifier),
    rateLimiter: deps.rateLimiter,
    routeLimiters: deps.routeLimiters,
    keyScope: deps.keyScope,
  });
  return app;
}
