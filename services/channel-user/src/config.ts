import { loadConfig } from '@nuri/platform/config';
import { commonConfig, kafkaConfig, portVariable, postgresConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...postgresConfig,
  ...kafkaConfig,
  NURI_CHANNEL_USER_PORT: portVariable(8201),
  NURI_CHANNEL_DB: Type.String({ default: 'nuri_channel', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
