import type { Database } from '@nuri/platform/db';
import { openMysql } from '@nuri/platform/service';
import type { Config } from '../config.ts';

/** The tables of coupon's own database; grows with its migrations. */
// biome-ignore lint/complexity/noBannedTypes: no tables yet.
export type ServiceDb = {};

export function openDatabase(config: Config): Database<ServiceDb> {
  return openMysql(config, config.NURI_COUPON_DB);
}
