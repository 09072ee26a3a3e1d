import { createEvent, type EventOf, messageKey, validateEvent } from '@nuri/contracts/events';
import { createEventConsumer, type EventConsumer } from '@nuri/platform/kafka/consumer';
import type { OutboxMessage } from '@nuri/platform/kafka/outbox';
import { type CouponEvent, recordCoupons } from '../db/coupons-repository.ts';
import type { IssuedCoupon } from '../domain/coupons.ts';
import { type ConsumerDeps, consumerTuning } from './consumer-deps.ts';
import { eventSource } from './topics.ts';

/** coupon.issued → issued_coupons (once per coupon and per campaign+user) → coupon.recorded via the outbox, for every delivery. */
export function createCouponsConsumer(deps: ConsumerDeps): EventConsumer {
  const { topics, groupId } = deps;
  return createEventConsumer<EventOf<'coupon.issued'>>({
    ...consumerTuning(deps),
    topics: [topics.couponIssued],
    validate: (_topic, value) => validateEvent('coupon.issued', value),
    handleBatch: async (batch) => {
      const recorded = await recordCoupons(deps.db, {
        events: batch.map(({ event, traceparent }) => ({
          eventId: event.id,
          correlationId: event.correlationId,
          ...(traceparent === undefined ? {} : { traceparent }),
          coupon: {
            couponId: event.data.couponId,
            campaignId: event.data.campaignId,
            userUuid: event.data.userUuid,
            code: event.data.code,
            issuedAt: new Date(event.data.issuedAt),
          },
        })),
        announce: (issued, held) => {
          if (held.couponId !== issued.coupon.couponId) {
            deps.logger.warn(
              {
                campaignId: held.campaignId,
                heldCouponId: held.couponId,
                sentCouponId: issued.coupon.couponId,
              },
              'a second coupon for the same campaign and user was refused; answering with the one held',
            );
          }
          return couponRecordedMessage(topics.couponRecorded, issued, held);
        },
      });
      deps.logger.debug({ groupId, received: batch.length, recorded }, 'coupon batch recorded');
    },
  });
}

/** coupon.recorded for the coupon the core holds, answering one delivery of coupon.issued (in its trace). */
export function couponRecordedMessage(topic: string, issued: CouponEvent, held: IssuedCoupon): OutboxMessage {
  const event = createEvent(
    'coupon.recorded',
    {
      couponId: held.couponId,
      campaignId: held.campaignId,
      userUuid: held.userUuid,
      recordedAt: new Date().toISOString(),
    },
    {
      source: eventSource,
      correlationId: issued.correlationId,
      ...(issued.traceparent === undefined ? {} : { traceparent: issued.traceparent }),
    },
  );
  return { topic, key: messageKey(event), event };
}
