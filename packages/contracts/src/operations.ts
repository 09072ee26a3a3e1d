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

/**
 * channel-user's view of the core zone's instances (GET /internal/v1/ops/core),
 * from the readiness probes it runs anyway to call the core: the gateway
 * shows the core through it and never calls the core itself.
 */
export const CoreInstanceSchema = Type.Object({
  url: Type.String({ maxLength: 200 }),
  ready: Type.Boolean(),
  pid: Type.Optional(Type.Integer({ minimum: 1 })),
  startedAt: Type.Optional(Type.String({ format: 'date-time' })),
  restarts: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const CoreViewSchema = Type.Object({
  services: Type.Object({
    'core-user': Type.Array(CoreInstanceSchema, { maxItems: 64 }),
    'core-payment': Type.Array(CoreInstanceSchema, { maxItems: 64 }),
  }),
});

export type CoreView = Static<typeof CoreViewSchema>;

/** core-payment's reports the gateway may read through channel-user, by the path channel-user relays them on. */
export const relayedCoreReports: Readonly<Record<string, string>> = {
  '/internal/v1/reconciliation': '/internal/v1/ops/core-payment/reconciliation',
  '/internal/v1/deposit-totals': '/internal/v1/ops/core-payment/deposit-totals',
  '/internal/v1/ops/outbox': '/internal/v1/ops/core-payment/outbox',
};
