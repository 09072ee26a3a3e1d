import { AppError } from '@nuri/platform/errors';

// `nuri reconcile`'s view of coupon (docs/api.md, Operations): coupons issued in
// Redis = coupons recorded in the core DB. The two cannot be read in one
// snapshot, and between the issue script and the core's insert a coupon
// travels through Kafka, so a gap is normal while coupons are in flight. What
// explains a gap is the campaign's pending set (issued, coupon.recorded not
// yet back): its entries younger than the recovery grace period are in
// flight; older ones are what the recovery job re-sends, and a gap they are
// needed to explain is reported.

export interface CampaignToCheck {
  campaignId: string;
  quantity: number;
}

/** One campaign's live counters, read in one Redis transaction. */
export interface LiveSnapshot {
  /** quantity − remaining: every coupon the script (or an adoption) took stock for. */
  issued: number;
  /** Issued and coupon.recorded not yet back. */
  pending: number;
  /** Of those, issued at or before the grace cutoff. */
  pendingOverdue: number;
}

export interface CampaignReconciliation {
  campaignId: string;
  quantity: number;
  issuedInRedis: number;
  recordedInCore: number;
  pending: number;
  pendingOverdue: number;
}

export type MismatchReason =
  /** More coupons issued than the campaign's quantity. */
  | 'OVER_ISSUED'
  /** The core recorded coupons that Redis does not count as issued. */
  | 'RECORDED_BUT_NOT_ISSUED'
  /** Issued coupons missing from the core that in-flight coupons do not account for. */
  | 'ISSUED_BUT_NOT_RECORDED';

export interface CampaignMismatch extends CampaignReconciliation {
  reason: MismatchReason;
}

export interface CouponReconciliationReport {
  checkedAt: Date;
  ok: boolean;
  campaigns: CampaignReconciliation[];
  mismatches: CampaignMismatch[];
  /** Campaigns whose live state is not in Redis (never loaded yet, or lost and not rebuilt): not compared. */
  notLoaded: string[];
}

/** The campaigns checked per run, newest first; older ones are not looked at (a report, not an audit). */
export const campaignsCheckedMax = 1_000;
// Each campaign costs one call to the core; this many run at once.
const coreCallsInFlightMax = 10;

/**
 * Whether one campaign's numbers agree. Pure: the counts come from the
 * caller, read core first and Redis second, so a coupon the core counts was
 * already issued when Redis was read. What that order cannot rule out: a
 * coupon issued, recorded and echoed back (leaving pending) in the
 * milliseconds between the two reads shows as ISSUED_BUT_NOT_RECORDED once;
 * a second run does not repeat it.
 */
export function judgeCampaign(checked: CampaignReconciliation): MismatchReason | undefined {
  const { quantity, issuedInRedis, recordedInCore, pending, pendingOverdue } = checked;
  if (issuedInRedis > quantity) return 'OVER_ISSUED';
  const gap = issuedInRedis - recordedInCore;
  if (gap < 0) return 'RECORDED_BUT_NOT_ISSUED';
  // Pending may also hold coupons the core has recorded whose coupon.recorded
  // is still on its way back, so in-flight coupons bound the gap from above.
  const inFlight = pending - pendingOverdue;
  if (gap > inFlight) return 'ISSUED_BUT_NOT_RECORDED';
  return undefined;
}

export interface ReconciliationDeps {
  campaigns: { listNewest(limit: number): Promise<CampaignToCheck[]> };
  live: {
    /** The Redis server's clock: pending entries are scored with it. */
    nowMs(): Promise<number>;
    snapshot(campaignId: string, overdueCutoffMs: number): Promise<LiveSnapshot | undefined>;
  };
  core: { countRecorded(campaignId: string): Promise<number> };
  logger: { warn(object: object, message: string): void };
  /** NURI_COUPON_RECOVERY_GRACE_MS: a pending coupon older than this is overdue. */
  graceMs: number;
}

/** Compares the newest campaigns' Redis counters with the core's records. */
export async function reconcileCoupons(deps: ReconciliationDeps): Promise<CouponReconciliationReport> {
  const campaigns = await deps.campaigns.listNewest(campaignsCheckedMax);
  const nowMs = await deps.live.nowMs();
  const checked: CampaignReconciliation[] = [];
  const notLoaded: string[] = [];
  for (let start = 0; start < campaigns.length; start += coreCallsInFlightMax) {
    const chunk = campaigns.slice(start, start + coreCallsInFlightMax);
    const results = await Promise.all(
      chunk.map(async (campaign) => {
        // Core first: see judgeCampaign.
        const recordedInCore = await deps.core.countRecorded(campaign.campaignId).catch((error: unknown) => {
          deps.logger.warn({ err: error, campaignId: campaign.campaignId }, 'core recorded-count failed');
          throw new AppError('CORE_UNAVAILABLE', 503, 'The core could not be asked for its coupon records');
        });
        const live = await deps.live.snapshot(campaign.campaignId, nowMs - deps.graceMs);
        return { campaign, recordedInCore, live };
      }),
    );
    for (const { campaign, recordedInCore, live } of results) {
      if (live === undefined) {
        notLoaded.push(campaign.campaignId);
        continue;
      }
      checked.push({
        campaignId: campaign.campaignId,
        quantity: campaign.quantity,
        issuedInRedis: live.issued,
        recordedInCore,
        pending: live.pending,
        pendingOverdue: live.pendingOverdue,
      });
    }
  }
  const mismatches = checked.flatMap((campaign) => {
    const reason = judgeCampaign(campaign);
    return reason === undefined ? [] : [{ ...campaign, reason }];
  });
  return {
    checkedAt: new Date(nowMs),
    ok: mismatches.length === 0,
    campaigns: checked,
    mismatches,
    notLoaded,
  };
}
