import { loadConfig } from '@nuri/platform/config';
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
  NURI_GATEWAY_PORT: Type.Integer({ default: 8080, minimum: 1, maximum: 65_535 }),
  /** Where `nuri reconcile` asks for the ledger's reconciliation. */
  NURI_CORE_PAYMENT_URL: Type.String({ default: 'http://127.0.0.1:8102', pattern: '^https?://[^/\\s]+$' }),
  NURI_POINT_URL: Type.String({ default: 'http://127.0.0.1:8202', pattern: '^https?://[^/\\s]+$' }),
  NURI_COUPON_URL: Type.String({ default: 'http://127.0.0.1:8203', pattern: '^https?://[^/\\s]+$' }),
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
