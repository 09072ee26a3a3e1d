import { loadConfig } from '@nuri/platform/config';
import { commonConfig, kafkaConfig, mysqlConfig, portVariable } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...mysqlConfig,
  ...kafkaConfig,
  NURI_POINT_PORT: portVariable(8202),
  NURI_POINT_DB: Type.String({ default: 'nuri_point', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
