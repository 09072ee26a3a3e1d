// The issue decision as a pure state machine. redis/scripts.ts runs the same
// decision atomically inside Redis; test/unit/issue-decision.test.ts drives
// both with the same cases so the two cannot drift apart.

/** A campaign's live state as the issue script sees it. */
export interface LiveCampaign {
  remaining: number;
  /** Inclusive start; null = open. */
  startsAtMs: number | null;
  /** Exclusive end; null = open. */
  endsAtMs: number | null;
  /** userUuid → the coupon that user holds. */
  holders: ReadonlyMap<string, HeldCoupon>;
  /** userUuid → the coupon whose hand-off failed with its fate unknown, not yet answered 201. */
  unconfirmed?: ReadonlyMap<string, string>;
  /** Holders whose coupon.recorded came back from the core (no longer pending). */
  recorded?: ReadonlySet<string>;
}

export interface HeldCoupon {
  couponId: string;
  code: string;
  issuedAtMs: number;
  /**
   * True once Kafka has the coupon (the broker acked its send, or it was read
   * back from the topic): from then on a rollback must not remove it, and it
   * is the user's for good.
   */
  handedOff: boolean;
}

export interface IssueAttempt {
  userUuid: string;
  couponId: string;
  code: string;
  nowMs: number;
}

export type IssueDecision =
  | { outcome: 'NOT_LOADED' }
  | { outcome: 'NOT_ACTIVE' }
  /**
   * `unconfirmed`: the user was answered 503 for this very coupon and not yet
   * 201 (campaigns.ts answers the retry with it). `recorded`: the core
   * recorded it (answerHolder).
   */
  | { outcome: 'ALREADY_ISSUED'; held: HeldCoupon; unconfirmed: boolean; recorded: boolean }
  | { outcome: 'SOLD_OUT' }
  | { outcome: 'ISSUED'; coupon: HeldCoupon; remaining: number };

/**
 * Every check comes before any write: known, active, not yet holding, stock
 * left. Only the last branch changes anything (stock − 1, holder recorded).
 */
export function decideIssue(campaign: LiveCampaign | undefined, attempt: IssueAttempt): IssueDecision {
  if (campaign === undefined) return { outcome: 'NOT_LOADED' };
  if (!isActive(campaign, attempt.nowMs)) return { outcome: 'NOT_ACTIVE' };
  const held = campaign.holders.get(attempt.userUuid);
  if (held !== undefined) {
    return {
      outcome: 'ALREADY_ISSUED',
      held,
      unconfirmed: campaign.unconfirmed?.get(attempt.userUuid) === held.couponId,
      recorded: campaign.recorded?.has(attempt.userUuid) === true,
    };
  }
  if (campaign.remaining <= 0) return { outcome: 'SOLD_OUT' };
  const coupon = {
    couponId: attempt.couponId,
    code: attempt.code,
    issuedAtMs: attempt.nowMs,
    handedOff: false,
  };
  return { outcome: 'ISSUED', coupon, remaining: campaign.remaining - 1 };
}

/**
 * What a user who already holds a coupon of the campaign is told. Only a
 * coupon Kafka has (or the core recorded) is named as held (409): until then
 * its send may still fail for sure and be rolled back, and the user would
 * never hold what a 409 named.
 * - CONFIRM: an earlier request was answered 503 with the coupon's fate
 *   unknown; this one sends it again and answers 201 with it.
 * - HELD: Kafka has it, or the core recorded it (its Kafka mark was lost,
 *   e.g. Redis came back from an older dump); 409 ALREADY_ISSUED naming it.
 * - SENDING: its first send has not ended (or its process died before the
 *   send, and recovery sends it later): wait for the outcome, then ask again.
 */
export type HolderAnswer = 'CONFIRM' | 'HELD' | 'SENDING';

export function answerHolder(decision: {
  held: HeldCoupon;
  unconfirmed: boolean;
  recorded: boolean;
}): HolderAnswer {
  if (decision.unconfirmed) return 'CONFIRM';
  return decision.held.handedOff || decision.recorded ? 'HELD' : 'SENDING';
}

export function isActive(campaign: Pick<LiveCampaign, 'startsAtMs' | 'endsAtMs'>, nowMs: number): boolean {
  if (campaign.startsAtMs !== null && nowMs < campaign.startsAtMs) return false;
  if (campaign.endsAtMs !== null && nowMs >= campaign.endsAtMs) return false;
  return true;
}

export type RollbackDecision = 'NOT_LOADED' | 'NOT_HELD' | 'HANDED_OFF' | 'ROLLED_BACK';

/**
 * Undo of a win whose hand-off failed. Only the exact coupon is removed: if
 * the user now holds another one (or none), nothing changes. A coupon already
 * seen in Kafka stays, because the core will record it.
 */
export function decideRollback(
  campaign: LiveCampaign | undefined,
  userUuid: string,
  couponId: string,
): RollbackDecision {
  if (campaign === undefined) return 'NOT_LOADED';
  const held = campaign.holders.get(userUuid);
  if (held === undefined || held.couponId !== couponId) return 'NOT_HELD';
  if (held.handedOff) return 'HANDED_OFF';
  return 'ROLLED_BACK';
}

export type HandOffDecision = 'NOT_LOADED' | 'HELD' | 'CONFLICT' | 'ADOPTED' | 'OVERSOLD';

/**
 * A coupon.issued seen in Kafka (the service reads its own topic). Normally
 * Redis holds it already (HELD, now marked handed off). If Redis does not, a
 * send reported as failed reached the broker after all, and the rollback gave
 * its stock back: the coupon is taken again (ADOPTED), even below zero stock
 * (OVERSOLD), because the core will record it whatever Redis says.
 */
export function decideHandOff(
  campaign: LiveCampaign | undefined,
  userUuid: string,
  couponId: string,
): HandOffDecision {
  if (campaign === undefined) return 'NOT_LOADED';
  const held = campaign.holders.get(userUuid);
  if (held !== undefined) return held.couponId === couponId ? 'HELD' : 'CONFLICT';
  return campaign.remaining > 0 ? 'ADOPTED' : 'OVERSOLD';
}

export type AckDecision = 'NOT_LOADED' | 'NOT_HELD' | 'ACKED';

/**
 * The broker acked a coupon's send: if the user still holds that coupon, it is
 * marked as in Kafka (a repeat is now answered 409 naming it, and a rollback
 * leaves it). Whatever the holder, the coupon is no longer unconfirmed.
 */
export function decideAck(
  campaign: LiveCampaign | undefined,
  userUuid: string,
  couponId: string,
): AckDecision {
  if (campaign === undefined) return 'NOT_LOADED';
  const held = campaign.holders.get(userUuid);
  if (held === undefined || held.couponId !== couponId) return 'NOT_HELD';
  return 'ACKED';
}
