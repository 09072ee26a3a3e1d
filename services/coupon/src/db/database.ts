import type { Database } from '@nuri/platform/db';
import { openMysql } from '@nuri/platform/service';
import type { Generated } from 'kysely';
import type { Config } from '../config.ts';

export interface CampaignsTable {
  campaign_id: string;
  name: string;
  quantity: number;
  starts_at: Date | null;
  ends_at: Date | null;
  created_at: Generated<Date>;
}

export interface IssuedCouponsTable {
  coupon_id: string;
  campaign_id: string;
  user_uuid: string;
  code: string;
  issued_at: Date;
  recorded_at: Date | null;
}

/** The tables of coupon's own database. */
export interface ServiceDb {
  campaigns: CampaignsTable;
  issued_coupons: IssuedCouponsTable;
}

export function openDatabase(config: Config): Database<ServiceDb> {
  return openMysql(config, config.NURI_COUPON_DB);
}
