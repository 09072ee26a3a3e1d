import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The coupon service's own metrics, registered in the app's registry (never prom-client's global one). */
export function createCouponMetrics(registry: Registry) {
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
  return {
    issued: counter('nuri_coupon_issued_total', 'Coupons issued and handed off to Kafka (201)'),
    soldOut: counter('nuri_coupon_sold_out_total', 'Issue requests answered 410 SOLD_OUT'),
    duplicate: counter('nuri_coupon_duplicate_total', 'Issue requests answered 409 ALREADY_ISSUED'),
    rollback: counter('nuri_coupon_rollback_total', 'Wins rolled back because the hand-off to Kafka failed'),
    recovered: counter(
      'nuri_coupon_recovered_total',
      'Coupons re-sent by the recovery job because coupon.recorded did not come back in time',
    ),
    rebuilt: counter('nuri_coupon_campaign_rebuilds_total', 'Campaigns whose lost Redis state was rebuilt'),
    handOffSurprises: new Counter({
      name: 'nuri_coupon_hand_off_surprises_total',
      help: 'coupon.issued read back from Kafka that Redis did not hold as sent (ADOPTED, OVERSOLD, CONFLICT)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    handOffDuration: new Histogram({
      name: 'nuri_coupon_hand_off_duration_seconds',
      help: 'Time from a coupon.issued batch leaving for Kafka to its ack (acks=all) or failure',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    handOffBatchSize: new Histogram({
      name: 'nuri_coupon_hand_off_batch_size',
      help: 'coupon.issued events per produce request',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    stock: new Gauge({
      name: 'nuri_coupon_stock_remaining',
      help: 'Coupons left per campaign, as last seen by this instance',
      labelNames: ['campaign_id'] as const,
      registers: [registry],
    }),
  };
}

export type CouponMetrics = ReturnType<typeof createCouponMetrics>;

/** The use cases' view of the metrics. */
export function couponCounters(metrics: CouponMetrics) {
  return {
    issued: () => metrics.issued.inc(),
    soldOut: () => metrics.soldOut.inc(),
    duplicate: () => metrics.duplicate.inc(),
    rollback: () => metrics.rollback.inc(),
    stock: (campaignId: string, remaining: number) =>
      metrics.stock.set({ campaign_id: campaignId }, Math.max(0, remaining)),
  };
}
