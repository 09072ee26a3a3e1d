import { loadConfig } from '@nuri/platform/config';
import { upstreamUrlsVariable } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

// The CLI's own settings: where the shared infrastructure lives. Each
// service validates its own variables in its config.ts.
const CliConfigSchema = Type.Object({
  NURI_PG_URL: Type.String({
    default: 'postgres://postgres@127.0.0.1:5432/postgres',
    pattern: '^postgres(ql)?://',
  }),
  NURI_MYSQL_URL: Type.String({ default: 'mysql://root@127.0.0.1:3306', pattern: '^(mysql|mariadb)://' }),
  NURI_REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379', pattern: '^rediss?://' }),
  NURI_KAFKA_BROKERS: Type.String({ default: '127.0.0.1:9092', pattern: '^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$' }),
  NURI_KAFKA_PARTITIONS: Type.Integer({ default: 6, minimum: 1, maximum: 64 }),
  /** The topics' prefix of the system the operations commands (dlq) act on; empty for `npm start`. */
  NURI_KAFKA_TOPIC_PREFIX: Type.String({ default: '', pattern: '^([a-z0-9][a-z0-9_-]{0,40}\\.)*$' }),
  NURI_GATEWAY_PORT: Type.Integer({ default: 8080, minimum: 1, maximum: 65_535 }),
  /** Where `nuri reconcile` asks for the ledger's reconciliation (any instance; comma-separated lists work). */
  NURI_CORE_PAYMENT_URL: upstreamUrlsVariable('http://127.0.0.1:8102'),
  NURI_CHANNEL_USER_URL: upstreamUrlsVariable('http://127.0.0.1:8201'),
  NURI_POINT_URL: upstreamUrlsVariable('http://127.0.0.1:8202'),
  NURI_COUPON_URL: upstreamUrlsVariable('http://127.0.0.1:8203'),
  /** Instances per service for `npm start` (`coupon=3,core-payment=2`); `--scale` wins. */
  NURI_SCALE: Type.String({ default: '' }),
  /** Where `nuri monitoring up` (and `npm start -- --monitoring`) runs Prometheus, on 127.0.0.1. */
  NURI_PROMETHEUS_PORT: Type.Integer({ default: 9090, minimum: 1, maximum: 65_535 }),
  /** `npm test` stops the infrastructure it started unless this is true. */
  NURI_KEEP_INFRA: Type.Boolean({ default: false }),
});

export type CliConfig = Static<typeof CliConfigSchema>;

export function loadCliConfig(env: Readonly<Record<string, string | undefined>> = process.env): CliConfig {
  return loadConfig(CliConfigSchema, env);
}

export function kafkaBrokerList(config: CliConfig): string[] {
  return config.NURI_KAFKA_BROKERS.split(',');
}
