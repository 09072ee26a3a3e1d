import { type Static, Type } from 'typebox';

// What services report to the gateway for the operator console
// (GET /api/v1/admin/*): internal routes answered to the ops and gateway
// callers only. Counts and ids, never a name, an RRN or a phone number.

/** GET /internal/v1/ops/outbox of every service with an outbox. */
export const OutboxBacklogSchema = Type.Object({
  /** Events written but not yet published (counted up to 1,000,000). */
  pending: Type.Integer({ minimum: 0 }),
  /** Age of the oldest of them; null when none waits. */
  oldestAgeSeconds: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
});

export type OutboxBacklogAnswer = Static<typeof OutboxBacklogSchema>;

const paymentStatus = Type.Union([
  Type.Literal('PENDING'),
  Type.Literal('COMPLETED'),
  Type.Literal('FAILED'),
]);

/** Stuck payments listed at most (they are an alarm, not an export). */
export const stuckPaymentsListedMax = 100;

/** GET /internal/v1/ops/payments of point, passed on as GET /api/v1/admin/payments. */
export const PaymentsOverviewSchema = Type.Object({
  byStatus: Type.Object({
    PENDING: Type.Integer({ minimum: 0 }),
    COMPLETED: Type.Integer({ minimum: 0 }),
    FAILED: Type.Integer({ minimum: 0 }),
  }),
  /** PENDING past every retry (the saga gave up re-sending), oldest first, at most 100. */
  stuck: Type.Array(
    Type.Object({
      paymentId: Type.String(),
      status: paymentStatus,
      cashAmount: Type.Integer({ minimum: 0 }),
      pointAmount: Type.Integer({ minimum: 0 }),
      createdAt: Type.String({ format: 'date-time' }),
    }),
    { maxItems: stuckPaymentsListedMax },
  ),
});

export type PaymentsOverview = Static<typeof PaymentsOverviewSchema>;
