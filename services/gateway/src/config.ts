import { fileURLToPath } from 'node:url';
import { type ConsumerGroupVariable, consumerGroups, groupIdPattern } from '@nuri/contracts/consumer-groups';
import { adminTokenConfig } from '@nuri/platform/admin-auth';
import { loadConfig } from '@nuri/platform/config';
import { internalAuthConfig } from '@nuri/platform/internal-auth';
import {
  commonConfig,
  kafkaConfig,
  portVariable,
  redisConfig,
  upstreamUrlsVariable,
} from '@nuri/platform/service';
import { parseUrlList } from '@nuri/platform/upstream';
import { type Static, type TString, Type } from 'typebox';

const upstreamUrl = upstreamUrlsVariable;

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...redisConfig,
  /** The public port. */
  NURI_GATEWAY_PORT: portVariable(8080),
  /**
   * Listen on the public port with SO_REUSEPORT, so that several gateway
   * instances on one host share it and the kernel spreads connections over
   * them (`npm start -- --scale gateway=N`). Off by default: a second system
   * started by mistake should fail with EADDRINUSE, not take half the traffic.
   */
  NURI_GATEWAY_SHARE_PORT: Type.Boolean({ default: false }),
  /**
   * This instance's own port for operations (0: none): /health/live,
   * /health/ready and /metrics answer here and not on the public port.
   * Probes, scrapes and `nuri status` reach the instance here.
   */
  NURI_GATEWAY_OPS_PORT: Type.Integer({ default: 0, minimum: 0, maximum: 65_535 }),
  /**
   * Proxies in front of the gateway (a load balancer, a TLS terminator) whose
   * X-Forwarded-For and X-Forwarded-Proto are believed: rate limits then key on
   * the real client. 0 (the default): nothing forwarded is believed.
   */
  NURI_GATEWAY_TRUSTED_PROXY_HOPS: Type.Integer({ default: 0, minimum: 0, maximum: 10 }),
  /** The built web console (src/cli/web.ts writes it); an image sets its own path. */
  NURI_GATEWAY_WEB_DIR: Type.String({
    default: fileURLToPath(new URL('../../../.nuri/web', import.meta.url)),
    minLength: 1,
  }),
  /** Signups per client IP per minute (each costs a password hash and a registry call). */
  NURI_GATEWAY_SIGNUP_LIMIT_PER_IP: Type.Integer({ default: 20, minimum: 1, maximum: 10_000_000 }),
  /** Logins per client IP per minute (each costs a password hash). */
  NURI_GATEWAY_LOGIN_LIMIT_PER_IP: Type.Integer({ default: 300, minimum: 1, maximum: 10_000_000 }),
  /** GET /health per client IP per minute (public and unauthenticated). */
  NURI_GATEWAY_HEALTH_LIMIT_PER_IP: Type.Integer({ default: 600, minimum: 1, maximum: 10_000_000 }),
  /** Every gateway instance's own URL, for the `gateway` entry of GET /health; empty: this one alone. */
  NURI_GATEWAY_PEER_URLS: Type.String({
    default: '',
    pattern: '^(https?://[^/\\s,]+(,https?://[^/\\s,]+)*)?$',
  }),
  NURI_CHANNEL_USER_URL: upstreamUrl('http://127.0.0.1:8201'),
  NURI_POINT_URL: upstreamUrl('http://127.0.0.1:8202'),
  NURI_COUPON_URL: upstreamUrl('http://127.0.0.1:8203'),
  /** Each instance of every service is probed (GET /health/ready) this often; GET /health answers from the results. */
  NURI_HEALTH_PROBE_INTERVAL_MS: Type.Integer({ default: 1_000, minimum: 100, maximum: 60_000 }),
  /** Per readiness probe. */
  NURI_HEALTH_TIMEOUT_MS: Type.Integer({ default: 1_000, minimum: 100, maximum: 30_000 }),
  /**
   * A forwarded request's whole answer. Longer than channel-user's worst
   * withdrawal (three core attempts with back-off), so the gateway does not
   * give up on a debit that is still being decided.
   */
  NURI_UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 120_000 }),
  /** Keep-alive sockets per instance of an upstream service. */
  NURI_UPSTREAM_CONNECTIONS_MAX: Type.Integer({ default: 128, minimum: 1, maximum: 4_096 }),
  /** Requests per client IP per window; generous enough for the benchmarks from one host. */
  NURI_RATE_LIMIT_IP_MAX: Type.Integer({ default: 20_000, minimum: 1, maximum: 10_000_000 }),
  /** Requests per authenticated user per window. */
  NURI_RATE_LIMIT_USER_MAX: Type.Integer({ default: 5_000, minimum: 1, maximum: 10_000_000 }),
  NURI_RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 1_000, minimum: 100, maximum: 3_600_000 }),
  /**
   * Each gateway counts locally and adds its counts to the shared ones in
   * Redis this often (rate-limit.ts), rather than a Redis round trip per
   * request. The limits hold across instances approximately: within about
   * one interval a key may pass its limit by what the other instances admit
   * meanwhile. One instance alone enforces them exactly.
   */
  NURI_RATE_LIMIT_SYNC_INTERVAL_MS: Type.Integer({ default: 50, minimum: 5, maximum: 10_000 }),
  // The operator console's APIs (admin/): the admin token they answer to, the
  // gateway's own token for the services' read-only internal reports, the
  // broker (lag, dead letters) and each consumer group's id (the services' own variables).
  ...adminTokenConfig,
  ...internalAuthConfig,
  ...kafkaConfig,
  ...consumerGroupVariables(),
  /** Every call the admin APIs make to a service, Redis or the broker gives up after this long. */
  NURI_GATEWAY_ADMIN_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 500, maximum: 60_000 }),
  /**
   * How often the gateway runs the reconciliation on its own and keeps the
   * result as gauges for the alert rules (reconciliation-metrics.ts); 0: never.
   */
  NURI_GATEWAY_RECONCILE_INTERVAL_MS: Type.Integer({ default: 300_000, minimum: 0, maximum: 86_400_000 }),
  /** How long channel-user's JWKS is trusted before a refetch (an unknown kid refetches sooner). */
  NURI_JWKS_CACHE_MAX_AGE_MS: Type.Integer({ default: 600_000, minimum: 1_000, maximum: 86_400_000 }),
});

export type Config = Static<typeof ConfigSchema>;

function consumerGroupVariables(): Record<ConsumerGroupVariable, TString> {
  return Object.fromEntries(
    consumerGroups.map((group) => [
      group.variable,
      Type.String({ default: group.defaultGroupId, pattern: groupIdPattern }),
    ]),
  ) as Record<ConsumerGroupVariable, TString>;
}

/** Every consumer group of the system under this environment's ids, with its topics (prefixed). */
export function consumerGroupsOf(config: Config): Array<{ group: string; topics: string[] }> {
  return consumerGroups.map((group) => ({
    group: config[group.variable],
    topics: group.topics.map((topic) => `${config.NURI_KAFKA_TOPIC_PREFIX}${topic}`),
  }));
}

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}

export type ServiceName = 'core-user' | 'core-payment' | 'channel-user' | 'point' | 'coupon';

/**
 * docs/architecture.md "Services": where each service runs (the gateway itself is the
 * edge). The CLI's service list says the same; e2e/admin.test.ts holds one to the other.
 */
export const zoneOf: Readonly<Record<ServiceName | 'gateway', 'core' | 'channel' | 'edge'>> = {
  'core-user': 'core',
  'core-payment': 'core',
  'channel-user': 'channel',
  point: 'channel',
  coupon: 'channel',
  gateway: 'edge',
};

export type ChannelServiceName = 'channel-user' | 'point' | 'coupon';

/** The channel services' instances' URLs: the gateway calls nothing else (it sees the core through channel-user). */
export function upstreamsOf(config: Config): Record<ChannelServiceName, string[]> {
  return {
    'channel-user': parseUrlList(config.NURI_CHANNEL_USER_URL),
    point: parseUrlList(config.NURI_POINT_URL),
    coupon: parseUrlList(config.NURI_COUPON_URL),
  };
}

/** The services the public API is routed to: the channel zone only (docs/architecture.md). */
export const channelServices: readonly ChannelServiceName[] = ['channel-user', 'point', 'coupon'];
