import { createRemoteAccessTokenVerifier } from '@nuri/platform/access-token';
import { runServer } from '@nuri/platform/http';
import { createLogger, type Logger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis } from '@nuri/platform/redis';
import { runMain } from '@nuri/platform/service';
import { startTracing } from '@nuri/platform/tracing';
import { createUpstream, parseUrlList, type Upstream } from '@nuri/platform/upstream';
import { adminDepsOf, countingRefusals, createRefusalCounter } from './admin/index.ts';
import { createServiceReports } from './admin/service-reports.ts';
import { buildApp } from './app.ts';
import { type Config, loadServiceConfig, type ServiceName, upstreamsOf } from './config.ts';
import { createCoreView } from './core-view.ts';
import { createKeyScope, keyClaimTimeoutMs } from './key-scope.ts';
import { createRateLimiter } from './rate-limit.ts';
import { startReconciliationMetrics } from './reconciliation-metrics.ts';

await runMain('gateway', async () => {
  const config = loadServiceConfig();
  startTracing({ serviceName: 'gateway', config });
  const logger = createLogger({ name: 'gateway', level: config.NURI_LOG_LEVEL });
  const redis = createRedis({ url: config.NURI_REDIS_URL, name: 'gateway', logger });
  // Key claims wait on Redis in a request's path: auto-pipelined, and failing
  // fast when Redis is away (key-scope.ts then lets the request through).
  const keyRedis = createRedis({
    url: config.NURI_REDIS_URL,
    name: 'gateway-keys',
    logger,
    autoPipelining: true,
    commandTimeoutMs: keyClaimTimeoutMs,
    maxRetriesPerRequest: 0,
  });
  const services = createServiceUpstreams(config, logger);
  const peers = parseUrlList(config.NURI_GATEWAY_PEER_URLS);
  const gateways = peers.length === 0 ? undefined : probeOnly('gateway', peers, config, logger);
  // Every 429 of every limiter is counted, for the operator console (admin/refusals.ts).
  const refusals = createRefusalCounter({ redis, logger });
  const rateLimiter = countingRefusals(
    'general',
    createRateLimiter({
      redis,
      logger,
      ipMax: config.NURI_RATE_LIMIT_IP_MAX,
      userMax: config.NURI_RATE_LIMIT_USER_MAX,
      windowMs: config.NURI_RATE_LIMIT_WINDOW_MS,
      syncIntervalMs: config.NURI_RATE_LIMIT_SYNC_INTERVAL_MS,
    }),
    refusals,
  );
  const perMinute = (name: string, ipMax: number) =>
    countingRefusals(
      name,
      createRateLimiter({
        redis,
        logger,
        ipMax,
        userMax: Number.MAX_SAFE_INTEGER,
        windowMs: 60_000,
        syncIntervalMs: config.NURI_RATE_LIMIT_SYNC_INTERVAL_MS,
        keyPrefix: `rl-${name}`,
      }),
      refusals,
    );
  const routeLimiters = {
    signup: perMinute('signup', config.NURI_GATEWAY_SIGNUP_LIMIT_PER_IP),
    login: perMinute('login', config.NURI_GATEWAY_LOGIN_LIMIT_PER_IP),
    health: perMinute('health', config.NURI_GATEWAY_HEALTH_LIMIT_PER_IP),
  };
  const metrics = createMetrics('gateway');
  const admin = adminDepsOf(config, { services, gateways, redis, refusals, logger });
  const reconciliation = startReconciliationMetrics({
    registry: metrics.registry,
    reports: createServiceReports({
      upstreams: services,
      token: config.NURI_INTERNAL_TOKEN,
      timeoutMs: config.NURI_GATEWAY_ADMIN_TIMEOUT_MS,
      logger,
    }),
    intervalMs: config.NURI_GATEWAY_RECONCILE_INTERVAL_MS,
    logger,
    deadLetters: () => admin.console.deadLetters.letters(),
  });
  const app = buildApp({
    logger,
    metrics,
    redis,
    services,
    ...(gateways === undefined ? {} : { gateways }),
    verifier: createRemoteAccessTokenVerifier({
      jwksUrls: services['channel-user']
        .instances()
        .map((instance) => `${instance.url}/.well-known/jwks.json`),
      cacheMaxAgeMs: config.NURI_JWKS_CACHE_MAX_AGE_MS,
    }),
    rateLimiter,
    routeLimiters,
    keyScope: createKeyScope({ redis: keyRedis, logger }),
    admin,
    ...(config.NURI_GATEWAY_OPS_PORT === 0 ? {} : { publicPort: config.NURI_GATEWAY_PORT }),
    trustedProxyHops: config.NURI_GATEWAY_TRUSTED_PROXY_HOPS,
    webDir: config.NURI_GATEWAY_WEB_DIR,
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_GATEWAY_PORT,
    reusePort: config.NURI_GATEWAY_SHARE_PORT,
    extraPort: config.NURI_GATEWAY_OPS_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    instanceRestarts: config.NURI_INSTANCE_RESTARTS,
    onShutdown: [
      () => reconciliation.stop(),
      () =>
        Promise.all([...Object.values(services), gateways].map((upstream) => upstream?.close())).then(
          () => {},
        ),
      () =>
        Promise.all([rateLimiter, ...Object.values(routeLimiters)].map((limiter) => limiter.close())).then(
          () => {},
        ),
      () => refusals.close(),
      async () => {
        redis.disconnect();
        keyRedis.disconnect();
      },
    ],
  });
});

/** Each channel service over its instances, and the core as channel-user sees it (GET /health, the console). */
function createServiceUpstreams(config: Config, logger: Logger): Record<ServiceName, Upstream> {
  const urls = upstreamsOf(config);
  const forwarding = (name: 'channel-user' | 'point' | 'coupon') =>
    createUpstream({
      name,
      urls: urls[name],
      connectionsMax: config.NURI_UPSTREAM_CONNECTIONS_MAX,
      attemptTimeoutMs: config.NURI_UPSTREAM_TIMEOUT_MS,
      // The client's whole wait: retries on another instance fit inside it, never add to it.
      requestDeadlineMs: config.NURI_UPSTREAM_TIMEOUT_MS,
      // A full answer of our API, or a 4 MiB refusal rather than buffering more.
      responseBytesMax: 4 * 1_048_576,
      probe: { intervalMs: config.NURI_HEALTH_PROBE_INTERVAL_MS, timeoutMs: config.NURI_HEALTH_TIMEOUT_MS },
      logger,
    });
  const channelUser = forwarding('channel-user');
  return {
    // Never a connection to the core: its instances and reports come through channel-user (core-view.ts).
    ...createCoreView({
      channelUser,
      token: config.NURI_INTERNAL_TOKEN,
      intervalMs: config.NURI_HEALTH_PROBE_INTERVAL_MS,
      timeoutMs: config.NURI_GATEWAY_ADMIN_TIMEOUT_MS,
      logger,
    }),
    'channel-user': channelUser,
    point: forwarding('point'),
    coupon: forwarding('coupon'),
  };
}

function probeOnly(name: string, urls: string[], config: Config, logger: Logger): Upstream {
  return createUpstream({
    name,
    urls,
    // Besides the probes (their own connections), the operator console's reports (admin/).
    connectionsMax: 2,
    attemptTimeoutMs: config.NURI_GATEWAY_ADMIN_TIMEOUT_MS,
    probe: { intervalMs: config.NURI_HEALTH_PROBE_INTERVAL_MS, timeoutMs: config.NURI_HEALTH_TIMEOUT_MS },
    logger,
  });
}
