import { inTransaction } from '@nuri/platform/db';
import { enqueueOutbox, type OutboxMessage } from '@nuri/platform/kafka/outbox';
import { type Kysely, sql } from 'kysely';
import type { CouponStore, IssuedCoupon } from '../domain/coupons.ts';
import type { ServiceDb } from './database.ts';

export interface CouponEvent {
  eventId: string;
  correlationId: string;
  /** For the coupon.recorded answer: the trace (ConsumedEvent.traceparent). */
  traceparent?: string;
  coupon: IssuedCoupon;
}

export interface RecordCouponsInput {
  events: readonly CouponEvent[];
  /** Builds coupon.recorded for the coupon as the core holds it (the first one recorded for that campaign and user). */
  announce: (event: CouponEvent, recorded: IssuedCoupon) => OutboxMessage;
}

/**
 * Records a batch of issued coupons in one transaction. Every delivery is
 * answered with coupon.recorded, a duplicate too: the coupon service's
 * recovery job re-sends until it hears that the core holds it. No inbox row
 * per event: the coupon id and the campaign+user pair are the keys that make
 * a coupon count once (a twin racing in another transaction waits on the key
 * and then finds the first one's row), and a second coupon.recorded changes
 * nothing at the coupon service. Returns how many coupons were newly recorded.
 */
export function recordCoupons(db: Kysely<ServiceDb>, input: RecordCouponsInput): Promise<number> {
  return inTransaction(db, async (trx) => {
    // The consumer hands over each event id once per batch (consumer.ts).
    const events = input.events;
    if (events.length === 0) return 0;
    const coupons = events.map((event) => event.coupon);
    const inserted = await sql<{ coupon_id: string }>`
      insert into issued_coupons (coupon_id, campaign_id, user_uuid, code, issued_at)
      select * from unnest(${coupons.map((c) => c.couponId)}::uuid[], ${coupons.map((c) => c.campaignId)}::uuid[],
                           ${coupons.map((c) => c.userUuid)}::uuid[], ${coupons.map((c) => c.code)}::text[],
                           ${coupons.map((c) => c.issuedAt.toISOString())}::timestamptz[])
      on conflict do nothing
      returning coupon_id`.execute(trx);
    const held = await sql<{
      coupon_id: string;
      campaign_id: string;
      user_uuid: string;
      code: string;
      issued_at: Date;
    }>`
      select coupon_id, campaign_id, user_uuid, code, issued_at from issued_coupons
      where (campaign_id, user_uuid) in (
        select * from unnest(${coupons.map((c) => c.campaignId)}::uuid[], ${coupons.map((c) => c.userUuid)}::uuid[]))`.execute(
      trx,
    );
    const heldByOwner = new Map(
      held.rows.map((row) => [
        `${row.campaign_id}/${row.user_uuid}`,
        {
          couponId: row.coupon_id,
          campaignId: row.campaign_id,
          userUuid: row.user_uuid,
          code: row.code,
          issuedAt: row.issued_at,
        },
      ]),
    );
    await enqueueOutbox(
      trx,
      events.map((event) => {
        const recorded =
          heldByOwner.get(`${event.coupon.campaignId}/${event.coupon.userUuid}`) ?? event.coupon;
        return input.announce(event, recorded);
      }),
    );
    return inserted.rows.length;
  });
}

export function createCouponStore(db: Kysely<ServiceDb>): CouponStore {
  return {
    async countRecorded(campaignId) {
      const { recorded } = await db
        .selectFrom('issued_coupons')
        .select((eb) => eb.fn.countAll<string>().as('recorded'))
        .where('campaign_id', '=', campaignId)
        .executeTakeFirstOrThrow();
      return Number(recorded);
    },
  };
}
