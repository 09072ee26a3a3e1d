import { type Topic, topics } from './events.ts';

// Every consumer group of the system: who reads what under which group id.
// Each consuming service takes its group id from its variable (default here),
// and the gateway reads the same variables to report each group's lag
// (GET /api/v1/admin/kafka/lag): one list, so the two cannot drift.

export interface ConsumerGroupSpec {
  /** The service whose instances share the group. */
  service: 'channel-user' | 'core-payment' | 'point' | 'coupon';
  /** The variable that renames the group (tests and second environments use their own). */
  variable: string;
  defaultGroupId: string;
  /** The topics it reads, before NURI_KAFKA_TOPIC_PREFIX. */
  topics: readonly Topic[];
}

export const consumerGroups = [
  {
    service: 'channel-user',
    variable: 'NURI_CHANNEL_DEPOSITS_GROUP_ID',
    defaultGroupId: 'channel-user.deposits',
    topics: [topics.depositSettled],
  },
  {
    service: 'core-payment',
    variable: 'NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID',
    defaultGroupId: 'core-payment.deposits',
    topics: [topics.depositRequested],
  },
  {
    service: 'core-payment',
    variable: 'NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID',
    defaultGroupId: 'core-payment.payments',
    topics: [topics.paymentRequested],
  },
  {
    service: 'core-payment',
    variable: 'NURI_CORE_PAYMENT_COUPONS_GROUP_ID',
    defaultGroupId: 'core-payment.coupons',
    topics: [topics.couponIssued],
  },
  {
    service: 'coupon',
    variable: 'NURI_COUPON_EVENTS_GROUP_ID',
    defaultGroupId: 'coupon.events',
    topics: [topics.couponIssued, topics.couponRecorded],
  },
  {
    service: 'point',
    variable: 'NURI_POINT_SETTLED_GROUP_ID',
    defaultGroupId: 'point.payments',
    topics: [topics.paymentSettled],
  },
] as const satisfies readonly ConsumerGroupSpec[];

export type ConsumerGroupVariable = (typeof consumerGroups)[number]['variable'];

/** The default group id behind a variable. */
export function defaultGroupIdOf(variable: ConsumerGroupVariable): string {
  return consumerGroups.find((group) => group.variable === variable)!.defaultGroupId;
}

/** Group ids: what Kafka accepts, and what the services' configs validate. */
export const groupIdPattern = '^[A-Za-z0-9._-]{1,128}$';
