/** core-payment's internal API, as far as coupon needs it. */
export interface CorePaymentClientOptions {
  baseUrl: string;
  internalToken: string;
  timeoutMs: number;
}

export function createCorePaymentClient(options: CorePaymentClientOptions) {
  return {
    /** How many coupons of the campaign the core has durably recorded. */
    async countRecorded(campaignId: string): Promise<number> {
      const url = new URL(
        `/internal/v1/coupon-campaigns/${encodeURIComponent(campaignId)}/recorded-count`,
        options.baseUrl,
      );
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${options.internalToken}` },
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (response.status !== 200) {
        throw new Error(`core-payment recorded-count answered ${response.status}`);
      }
      const body = (await response.json()) as { recorded?: unknown };
      if (typeof body.recorded !== 'number' || !Number.isInteger(body.recorded) || body.recorded < 0) {
        throw new Error('core-payment recorded-count answered without a count');
      }
      return body.recorded;
    },
  };
}

export type CorePaymentClient = ReturnType<typeof createCorePaymentClient>;
