import type { Migration } from '@nuri/platform/db';
import { sql } from 'kysely';

/**
 * coupon's migrations, applied in key order by `nuri migrate` (and at start).
 * Keys are ordered names (`0001_…`); a migration once landed never changes.
 *
 * No inbox table: both consumers are idempotent by construction (INSERT IGNORE
 * on the coupon id, an UPDATE that only fills a NULL, a ZREM), so a
 * redelivered event changes nothing.
 */
export const migrations: Record<string, Migration> = {
  '0001_campaigns_and_issued_coupons': {
    async up(db) {
      await sql`create table campaigns (
        campaign_id char(36) character set ascii collate ascii_bin not null primary key,
        name varchar(100) not null,
        quantity int unsigned not null,
        starts_at datetime(3) null,
        ends_at datetime(3) null,
        created_at datetime(3) not null default current_timestamp(3),
        key campaigns_ends_at (ends_at)
      ) engine = InnoDB`.execute(db);
      // A mirror of coupon.issued as Kafka holds it: what every 201 promised.
      // The unique key matches the core's, so both keep the first coupon of a user.
      await sql`create table issued_coupons (
        coupon_id char(36) character set ascii collate ascii_bin not null primary key,
        campaign_id char(36) character set ascii collate ascii_bin not null,
        user_uuid char(36) character set ascii collate ascii_bin not null,
        code varchar(64) character set ascii collate ascii_bin not null,
        issued_at datetime(3) not null,
        recorded_at datetime(3) null,
        unique key issued_coupons_campaign_user (campaign_id, user_uuid),
        key issued_coupons_user (user_uuid, issued_at)
      ) engine = InnoDB`.execute(db);
    },
    async down(db) {
      await sql`drop table issued_coupons`.execute(db);
      await sql`drop table campaigns`.execute(db);
    },
  },
};
