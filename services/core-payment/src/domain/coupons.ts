/** A coupon the coupon service issued; the core keeps the durable record. */
export interface IssuedCoupon {
  couponId: string;
  campaignId: string;
  userUuid: string;
  code: string;
  issuedAt: Date;
}

export interface CouponStore {
  countRecorded(campaignId: string): Promise<number>;
}

export async function recordedCount(
  store: CouponStore,
  campaignId: string,
): Promise<{ campaignId: string; recorded: number }> {
  return { campaignId, recorded: await store.countRecorded(campaignId) };
}
