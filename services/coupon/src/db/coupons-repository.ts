import { type Kysely, sql } from 'kysely';
import type { IssuedCoupon } from '../domain/campaigns.ts';
import type { ServiceDb } from './database.ts';

export function createCouponRepository(db: Kysely<ServiceDb>) {
  return {
    /** Idempotent: a coupon already mirrored (or a second one for the same user) is ignored. */
    async insertIssued(coupons: readonly IssuedCoupon[]): Promise<number> {
      if (coupons.length === 0) return 0;
      const values = sql.join(
        coupons.map((c) => sql`(${c.couponId}, ${c.campaignId}, ${c.userUuid}, ${c.code}, ${c.issuedAt})`),
      );
      const result = await sql`
        insert ignore into issued_coupons (coupon_id, campaign_id, user_uuid, code, issued_at)
        values ${values}`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },

    async markRecorded(couponIds: readonly string[], recordedAt: Date): Promise<void> {
      if (couponIds.length === 0) return;
      await db
        .updateTable('issued_coupons')
        .set({ recorded_at: recordedAt })
        .where('coupon_id', 'in', couponIds)
        .where('recorded_at', 'is', null)
        .execute();
    },

    async listByUser(userUuid: string, limit: number): Promise<IssuedCoupon[]> {
      const rows = await db
        .selectFrom('issued_coupons')
        .select(['coupon_id', 'campaign_id', 'user_uuid', 'code', 'issued_at'])
        .where('user_uuid', '=', userUuid)
        .orderBy('issued_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        couponId: row.coupon_id,
        campaignId: row.campaign_id,
        userUuid: row.user_uuid,
        code: row.code,
        issuedAt: row.issued_at,
      }));
    },

    /** One page of a campaign's mirrored coupons in coupon-id order (a rebuild walks them all). */
    async pageByCampaign(
      campaignId: string,
      afterCouponId: string,
      limit: number,
    ): Promise<Array<IssuedCoupon & { recorded: boolean }>> {
      const rows = await db
        .selectFrom('issued_coupons')
        .select(['coupon_id', 'campaign_id', 'user_uuid', 'code', 'issued_at', 'recorded_at'])
        .where('campaign_id', '=', campaignId)
        .where('coupon_id', '>', afterCouponId)
        .orderBy('coupon_id')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        couponId: row.coupon_id,
        campaignId: row.campaign_id,
        userUuid: row.user_uuid,
        code: row.code,
        issuedAt: row.issued_at,
        recorded: row.recorded_at !== null,
      }));
    },
  };
}

export type CouponRepository = ReturnType<typeof createCouponRepository>;
