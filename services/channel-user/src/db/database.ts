import type { Database } from '@nuri/platform/db';
import { openPostgres } from '@nuri/platform/service';
import type { Config } from '../config.ts';

/** The tables of channel-user's own database; grows with its migrations. */
// biome-ignore lint/complexity/noBannedTypes: no tables yet.
export type ServiceDb = {};

export function openDatabase(config: Config): Database<ServiceDb> {
  return openPostgres(config, config.NURI_CHANNEL_DB, 'channel-user');
}
