import { loadConfig } from '@nuri/platform/config';
import { commonConfig, portVariable, redisConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

const upstreamUrl = (defaultUrl: string) =>
  Type.String({ default: defaultUrl, pattern: '^https?://[^/\\s]+$' });

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...redisConfig,
  NURI_GATEWAY_PORT: portVariable(8080),
  NURI_CORE_USER_URL: upstreamUrl('http://127.0.0.1:8101'),
  NURI_CORE_PAYMENT_URL: upstreamUrl('http://127.0.0.1:8102'),
  NURI_CHANNEL_USER_URL: upstreamUrl('http://127.0.0.1:8201'),
  NURI_POINT_URL: upstreamUrl('http://127.0.0.1:8202'),
  NURI_COUPON_URL: upstreamUrl('http://127.0.0.1:8203'),
  /** Per upstream readiness probe behind GET /health. */
  NURI_HEALTH_TIMEOUT_MS: Type.Integer({ default: 1_500, minimum: 100, maximum: 30_000 }),
  /**
   * A forwarded request's whole answer. Longer than channel-user's worst
   * withdrawal (three core attempts with back-off), so the gateway does not
   * give up on a debit that is still being decided.
   */
  NURI_UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 120_000 }),
  /** Keep-alive sockets per upstream service. */
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
  /** How long channel-user's JWKS is trusted before a refetch (an unknown kid refetches sooner). */
  NURI_JWKS_CACHE_MAX_AGE_MS: Type.Integer({ default: 600_000, minimum: 1_000, maximum: 86_400_000 }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}

/** Every service behind the gateway, by name, for the aggregated health. */
export function upstreamsOf(config: Config): Record<string, string> {
  return {
    'core-user': config.NURI_CORE_USER_URL,
    'core-payment': config.NURI_CORE_PAYMENT_URL,
    'channel-user': config.NURI_CHANNEL_USER_URL,
    point: config.NURI_POINT_URL,
    coupon: config.NURI_COUPON_URL,
  };
}

/** The services the public API is routed to: the channel zone only (DESIGN.md). */
export function channelUpstreamsOf(config: Config): ChannelUpstreams {
  return {
    'channel-user': config.NURI_CHANNEL_USER_URL,
    point: config.NURI_POINT_URL,
    coupon: config.NURI_COUPON_URL,
  };
}

export type ChannelUpstreams = Record<'channel-user' | 'point' | 'coupon', string>;
