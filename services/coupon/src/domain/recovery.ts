import type { IssuedCoupon } from './campaigns.ts';
import type { HeldCoupon } from './issue-decision.ts';

export interface RecoveryDeps {
  campaigns: { listRecent(endedAfter: Date, limit: number): Promise<string[]> };
  live: {
    nowMs(): Promise<number>;
    pendingSince(campaignId: string, issuedAtMsMax: number, offset: number, count: number): Promise<string[]>;
    holdersOf(campaignId: string, userUuids: readonly string[]): Promise<Map<string, HeldCoupon>>;
  };
  handOff: { resend(coupon: IssuedCoupon, correlationId: string): Promise<void> };
  onResent: (count: number) => void;
  /** A coupon issued this long ago without coupon.recorded back is re-sent. */
  graceMs: number;
}

// Campaigns that ended more than this long ago have had a week of hourly
// chances to be recorded; past that an operator looks, not a loop.
const campaignRetentionMs = 7 * 86_400_000;
const campaignsPerRunMax = 10_000;
const pageSize = 500;
const couponsPerCampaignPerRunMax = 100_000;

/**
 * Every coupon instance runs this job; it is idempotent by construction
 * rather than fenced by a lease. A re-sent coupon keeps its coupon id and
 * code, and the core records a coupon once per (campaign, user) and answers
 * a duplicate as it did the first, so two instances re-sending the same one
 * cost a duplicate event, never a second coupon. What must never happen is a
 * re-send of a coupon whose first send is still in flight on some instance
 * (that send may yet fail and roll the coupon back): `graceMs` is checked at
 * boot to exceed the longest send (config.ts).
 *
 * Re-sends every coupon Redis holds whose coupon.recorded has not come back
 * within the grace period: the same coupon id and code (the core records each
 * once and answers duplicates too), under a new event id. Covers a process
 * that died between the script's win and the send, and a coupon.recorded lost
 * on the way back. Returns how many were re-sent; stops at the first failed
 * send, since the next run will try again.
 */
export async function resendUnrecorded(deps: RecoveryDeps): Promise<number> {
  const nowMs = await deps.live.nowMs();
  const cutoffMs = nowMs - deps.graceMs;
  const campaignIds = await deps.campaigns.listRecent(
    new Date(nowMs - campaignRetentionMs),
    campaignsPerRunMax,
  );
  let resent = 0;
  for (const campaignId of campaignIds) {
    for (let offset = 0; offset < couponsPerCampaignPerRunMax; offset += pageSize) {
      const userUuids = await deps.live.pendingSince(campaignId, cutoffMs, offset, pageSize);
      const holders = await deps.live.holdersOf(campaignId, userUuids);
      const sends = [...holders].map(([userUuid, held]) =>
        deps.handOff.resend(
          {
            couponId: held.couponId,
            campaignId,
            userUuid,
            code: held.code,
            issuedAt: new Date(held.issuedAtMs),
          },
          `recovery:${held.couponId}`,
        ),
      );
      const results = await Promise.allSettled(sends);
      const sent = results.filter((result) => result.status === 'fulfilled').length;
      resent += sent;
      deps.onResent(sent);
      const failure = results.find((result) => result.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
      if (userUuids.length < pageSize) break;
    }
  }
  return resent;
}
