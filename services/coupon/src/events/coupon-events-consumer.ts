import { type EventOf, validateEvent } from '@nuri/contracts/events';
import {
  createEventConsumer,
  type EventConsumer,
  type EventConsumerOptions,
  isTransientInfrastructureError,
} from '@nuri/platform/kafka/consumer';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import type { Logger } from '@nuri/platform/logger';
import type { Registry } from 'prom-client';
import type { CouponRepository } from '../db/coupons-repository.ts';
import type { HandOffDecision } from '../domain/issue-decision.ts';
import type { CouponMetrics } from '../metrics.ts';
import type { CampaignStore } from '../redis/campaign-store.ts';
import type { CouponTopics } from './topics.ts';

type CouponEvent = EventOf<'coupon.issued'> | EventOf<'coupon.recorded'>;

/** Consumer timings a test or bench may shorten (group join, fetch wait). */
export type ConsumerTimings = Pick<
  EventConsumerOptions<unknown>,
  'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs' | 'fetchWaitMs' | 'lagIntervalMs'
>;

export interface CouponEventsDeps {
  brokers: string[];
  groupId: string;
  topics: CouponTopics;
  batchSizeMax: number;
  coupons: CouponRepository;
  store: CampaignStore;
  metrics: CouponMetrics;
  dlqProducer: EventProducer;
  logger: Logger;
  registry?: Registry;
  timings?: ConsumerTimings;
}

// ioredis reports a lost connection without an errno code; it is an outage, not a bad message.
const redisOutageMessages = [/Connection is closed/i, /Command timed out/i, /max retries per request/i];

function isTransient(error: unknown): boolean {
  if (isTransientInfrastructureError(error)) return true;
  return error instanceof Error && redisOutageMessages.some((pattern) => pattern.test(error.message));
}

/**
 * Reads back the service's own coupon.issued (the MySQL mirror; marks each
 * coupon handed off in Redis) and the core's coupon.recorded (the coupon no
 * longer needs re-sending). Both effects are idempotent, so a redelivered
 * batch is harmless without an inbox.
 */
export function createCouponEventsConsumer(deps: CouponEventsDeps): EventConsumer {
  const { topics, logger } = deps;
  return createEventConsumer<CouponEvent>({
    brokers: deps.brokers,
    groupId: deps.groupId,
    clientId: `coupon-${deps.groupId}`,
    topics: [topics.couponIssued, topics.couponRecorded],
    batchSizeMax: deps.batchSizeMax,
    dlqProducer: deps.dlqProducer,
    logger,
    isTransient,
    ...(deps.registry === undefined ? {} : { registry: deps.registry }),
    ...deps.timings,
    validate: (topic, value) =>
      topic === topics.couponIssued
        ? validateEvent('coupon.issued', value)
        : validateEvent('coupon.recorded', value),
    handleBatch: async (batch) => {
      const issued: EventOf<'coupon.issued'>[] = [];
      const recorded: EventOf<'coupon.recorded'>[] = [];
      for (const { event } of batch) {
        if (event.type === 'coupon.issued') issued.push(event);
        else recorded.push(event);
      }
      await mirrorIssued(deps, issued);
      await applyRecorded(deps, recorded);
    },
  });
}

async function mirrorIssued(deps: CouponEventsDeps, events: EventOf<'coupon.issued'>[]): Promise<void> {
  if (events.length === 0) return;
  const unique = new Map(events.map((event) => [event.data.couponId, event.data]));
  const coupons = [...unique.values()].map((data) => ({
    couponId: data.couponId,
    campaignId: data.campaignId,
    userUuid: data.userUuid,
    code: data.code,
    issuedAt: new Date(data.issuedAt),
  }));
  // MySQL first: a rebuild that finds the Redis meta missing reads these rows.
  await deps.coupons.insertIssued(coupons);
  const outcomes = await Promise.all(
    coupons.map(async (coupon) => ({
      coupon,
      outcome: await deps.store.handOff(coupon.campaignId, coupon.userUuid, {
        couponId: coupon.couponId,
        code: coupon.code,
        issuedAtMs: coupon.issuedAt.getTime(),
      }),
    })),
  );
  for (const { coupon, outcome } of outcomes) reportHandOff(deps, coupon, outcome);
}

function reportHandOff(
  deps: CouponEventsDeps,
  coupon: { couponId: string; campaignId: string },
  outcome: HandOffDecision,
): void {
  if (outcome === 'HELD' || outcome === 'NOT_LOADED') return;
  deps.metrics.handOffSurprises.inc({ outcome });
  const context = { campaignId: coupon.campaignId, couponId: coupon.couponId, outcome };
  if (outcome === 'ADOPTED') {
    deps.logger.warn(
      context,
      'a coupon whose send was reported failed reached Kafka; its stock was taken again',
    );
  } else {
    // OVERSOLD: more coupons reached Kafka than the stock; CONFLICT: Redis holds another coupon for this user.
    deps.logger.error(context, 'coupon in Kafka disagrees with the live state');
  }
}

async function applyRecorded(deps: CouponEventsDeps, events: EventOf<'coupon.recorded'>[]): Promise<void> {
  if (events.length === 0) return;
  await deps.coupons.markRecorded(
    events.map((event) => event.data.couponId),
    new Date(),
  );
  await deps.store.markRecorded(
    events.map((event) => ({ campaignId: event.data.campaignId, userUuid: event.data.userUuid })),
  );
}
