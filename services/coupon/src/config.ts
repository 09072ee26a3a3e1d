import { loadConfig } from '@nuri/platform/config';
import { commonConfig, kafkaConfig, mysqlConfig, portVariable, redisConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...mysqlConfig,
  ...redisConfig,
  ...kafkaConfig,
  NURI_COUPON_PORT: portVariable(8203),
  NURI_COUPON_DB: Type.String({ default: 'nuri_coupon', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
