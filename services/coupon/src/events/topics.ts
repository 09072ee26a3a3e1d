import { topics } from '@nuri/contracts/events';

/** The topics coupon reads and writes; tests and benches substitute their own names. */
export interface CouponTopics {
  couponIssued: string;
  couponRecorded: string;
}

export const defaultTopics: CouponTopics = {
  couponIssued: topics.couponIssued,
  couponRecorded: topics.couponRecorded,
};

/** Every topic the service touches, DLQs included (auto-create is off, so they must exist). */
export function topicsToEnsure(names: CouponTopics): string[] {
  return [
    names.couponIssued,
    names.couponRecorded,
    `${names.couponIssued}.dlq`,
    `${names.couponRecorded}.dlq`,
  ];
}

export const eventSource = 'coupon';
