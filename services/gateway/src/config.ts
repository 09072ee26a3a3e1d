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
