import { createUpstream, unavailableStatus } from '@nuri/platform/upstream';

/** core-payment's internal API, as far as coupon needs it. */
export interface CorePaymentClientOptions {
  /** core-payment's instances. */
  urls: readonly string[];
  internalToken: string;
  /** Per attempt; a read, so it is tried once more (on another instance when there is one). */
  timeoutMs: number;
  /** How often each instance's readiness is probed; 0: never. */
  probeIntervalMs?: number;
}

export function createCorePaymentClient(options: CorePaymentClientOptions) {
  const upstream = createUpstream({
    name: 'core-payment',
    urls: options.urls,
    connectionsMax: 4,
    attemptTimeoutMs: options.timeoutMs,
    requestDeadlineMs: options.timeoutMs * 2,
    responseBytesMax: 65_536,
    probe: { intervalMs: options.probeIntervalMs ?? 1_000, timeoutMs: Math.min(options.timeoutMs, 1_000) },
  });
  const headers = { authorization: `Bearer ${options.internalToken}`, accept: 'application/json' };
  return {
    /** How many coupons of the campaign the core has durably recorded. */
    async countRecorded(campaignId: string): Promise<number> {
      const answer = await upstream.request({
        method: 'GET',
        path: `/internal/v1/coupon-campaigns/${encodeURIComponent(campaignId)}/recorded-count`,
        headers,
        retriesMax: 1,
        isFailureStatus: unavailableStatus,
      });
      if (answer.status !== 200) {
        throw new Error(`core-payment recorded-count answered ${answer.status}`);
      }
      const body = JSON.parse(answer.body.toString('utf8')) as { recorded?: unknown };
      if (typeof body.recorded !== 'number' || !Number.isInteger(body.recorded) || body.recorded < 0) {
        throw new Error('core-payment recorded-count answered without a count');
      }
      return body.recorded;
    },
    close: () => upstream.close(),
  };
}

export type CorePaymentClient = ReturnType<typeof createCorePaymentClient>;
