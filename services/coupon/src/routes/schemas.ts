import { ProblemSchema, pathParamLengthMax } from '@nuri/platform/http';
import Type from 'typebox';
import {
  type CampaignView,
  campaignsListedMax,
  type IssuedCoupon,
  nameLengthMax,
  quantityMax,
} from '../domain/campaigns.ts';
import type { CouponReconciliationReport } from '../domain/reconciliation.ts';

export const Problem = ProblemSchema;
const Timestamp = Type.String({ format: 'date-time' });
// Any string up to the router's limit reaches the use case, which answers 404
// for anything that is not a campaign (a malformed id included).
export const CampaignParams = Type.Object({
  campaignId: Type.String({ minLength: 1, maxLength: pathParamLengthMax }),
});

export const CreateCampaignBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: nameLengthMax }),
  quantity: Type.Integer({ minimum: 1, maximum: quantityMax }),
  startsAt: Type.Optional(Timestamp),
  endsAt: Type.Optional(Timestamp),
});

export const Campaign = Type.Object({
  campaignId: Type.String(),
  name: Type.String(),
  quantity: Type.Integer(),
  remaining: Type.Integer(),
  issued: Type.Integer(),
  startsAt: Type.Union([Timestamp, Type.Null()]),
  endsAt: Type.Union([Timestamp, Type.Null()]),
});

/** GET /api/v1/admin/coupon-campaigns: the newest first, at most `limit` (no cursor: it is a console's overview). */
export const CampaignListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: campaignsListedMax, default: campaignsListedMax }),
});

export const CampaignList = Type.Object({ items: Type.Array(Campaign, { maxItems: campaignsListedMax }) });

export const Coupon = Type.Object({
  couponId: Type.String(),
  campaignId: Type.String(),
  code: Type.String(),
  issuedAt: Timestamp,
});

export const CouponList = Type.Object({ items: Type.Array(Coupon) });

/** 409 ALREADY_ISSUED names the coupon held; 409 CAMPAIGN_NOT_ACTIVE does not. */
export const ConflictProblem = Type.Object(
  { ...ProblemSchema.properties, couponId: Type.Optional(Type.String()) },
  { additionalProperties: true },
);

export function campaignToJson(view: CampaignView) {
  return {
    campaignId: view.campaignId,
    name: view.name,
    quantity: view.quantity,
    remaining: view.remaining,
    issued: view.issued,
    startsAt: view.startsAt?.toISOString() ?? null,
    endsAt: view.endsAt?.toISOString() ?? null,
  };
}

export function couponToJson(coupon: IssuedCoupon) {
  return {
    couponId: coupon.couponId,
    campaignId: coupon.campaignId,
    code: coupon.code,
    issuedAt: coupon.issuedAt.toISOString(),
  };
}

const CampaignCounts = {
  campaignId: Type.String(),
  quantity: Type.Integer({ minimum: 0 }),
  issuedInRedis: Type.Integer(),
  recordedInCore: Type.Integer({ minimum: 0 }),
  /** Issued, coupon.recorded not yet back. */
  pending: Type.Integer({ minimum: 0 }),
  /** Of those, older than the recovery grace period. */
  pendingOverdue: Type.Integer({ minimum: 0 }),
};

export const Reconciliation = Type.Object({
  checkedAt: Timestamp,
  ok: Type.Boolean(),
  campaigns: Type.Array(Type.Object(CampaignCounts)),
  mismatches: Type.Array(
    Type.Object({
      ...CampaignCounts,
      reason: Type.Union([
        Type.Literal('OVER_ISSUED'),
        Type.Literal('RECORDED_BUT_NOT_ISSUED'),
        Type.Literal('ISSUED_BUT_NOT_RECORDED'),
      ]),
    }),
  ),
  notLoaded: Type.Array(Type.String()),
});

export function reconciliationToJson(report: CouponReconciliationReport) {
  return { ...report, checkedAt: report.checkedAt.toISOString() };
}
