import { loadConfig } from '@nuri/platform/config';
import { commonConfig, portVariable, postgresConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...postgresConfig,
  NURI_CORE_USER_PORT: portVariable(8101),
  NURI_CORE_USER_DB: Type.String({ default: 'nuri_core_user', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
