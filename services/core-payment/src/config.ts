import { loadConfig } from '@nuri/platform/config';
import { commonConfig, kafkaConfig, portVariable, postgresConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...postgresConfig,
  ...kafkaConfig,
  NURI_CORE_PAYMENT_PORT: portVariable(8102),
  NURI_CORE_PAYMENT_DB: Type.String({ default: 'nuri_core_payment', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
