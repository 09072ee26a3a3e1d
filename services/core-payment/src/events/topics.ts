import { topics } from '@nuri/contracts/events';

/** The topics core-payment reads and writes; tests and benches substitute their own names. */
export interface CorePaymentTopics {
  depositRequested: string;
  depositSettled: string;
  paymentRequested: string;
  paymentSettled: string;
  couponIssued: string;
  couponRecorded: string;
}

export const defaultTopics: CorePaymentTopics = { ...topics };

/** Every topic the service touches, DLQs included (auto-create is off, so they must exist). */
export function topicsToEnsure(names: CorePaymentTopics): string[] {
  const consumed = [names.depositRequested, names.paymentRequested, names.couponIssued];
  return [...Object.values(names), ...consumed.map((topic) => `${topic}.dlq`)];
}

export const eventSource = 'core-payment';
