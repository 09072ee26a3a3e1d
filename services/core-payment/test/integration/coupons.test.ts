import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEvent, type EventOf, messageKey, newEventId } from '@nuri/contracts/events';
import { recordCoupons } from '../../src/db/coupons-repository.ts';
import { couponRecordedMessage } from '../../src/events/coupons-consumer.ts';
import {
  auth,
  randomUserUuid,
  readTopic,
  startEvents,
  startService,
  type TestEvents,
  type TestService,
  waitUntil,
} from './helpers.ts';

describe('coupon records from Kafka', { timeout: 90_000 }, () => {
  let service: TestService;
  let events: TestEvents;
  before(async () => {
    service = await startService('coupons');
    events = await startEvents(service, 'coupons');
  });
  after(async () => {
    await events?.stop();
    await service?.close();
  });

  function couponIssued(
    campaignId: string,
    userUuid: string,
    couponId = newEventId(),
  ): EventOf<'coupon.issued'> {
    return createEvent(
      'coupon.issued',
      {
        couponId,
        campaignId,
        userUuid,
        code: `CODE-${couponId.slice(-8)}`,
        issuedAt: new Date().toISOString(),
      },
      { source: 'coupon', correlationId: `it-${couponId}` },
    );
  }

  async function recordedCount(campaignId: string): Promise<number> {
    const response = await service.app.inject({
      url: `/internal/v1/coupon-campaigns/${campaignId}/recorded-count`,
      headers: auth,
    });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json().campaignId, campaignId);
    return response.json().recorded;
  }

  it('when deliveries of one coupon and a second coupon for the same user race in separate transactions, then one is recorded and every delivery is answered with it', async () => {
    const campaignId = newEventId();
    const userUuid = randomUserUuid();
    const first = couponIssued(campaignId, userUuid);
    const second = couponIssued(campaignId, userUuid);
    const answered: string[] = [];
    const record = (event: EventOf<'coupon.issued'>) =>
      recordCoupons(service.database.db, {
        events: [
          {
            eventId: newEventId(),
            correlationId: event.correlationId,
            coupon: { ...event.data, issuedAt: new Date(event.data.issuedAt) },
          },
        ],
        announce: (delivery, held) => {
          answered.push(held.couponId);
          return couponRecordedMessage(events.topics.couponRecorded, delivery, held);
        },
      });
    const inserted = await Promise.all([record(first), record(first), record(second), record(first)]);
    assert.equal(
      inserted.reduce((sum, count) => sum + count, 0),
      1,
    );
    assert.equal(answered.length, 4);
    assert.equal(new Set(answered).size, 1, 'every delivery answered with the one coupon held');
    assert.equal(await recordedCount(campaignId), 1);
  });

  it('when a coupon.issued is delivered twice and re-sent by the recovery job, then it is recorded once and each delivery gets coupon.recorded', async () => {
    const campaignId = newEventId();
    const userUuid = randomUserUuid();
    const issued = couponIssued(campaignId, userUuid);
    const recoveryResend = { ...issued, id: newEventId() };
    await events.sender.sendEvents(
      [issued, issued, recoveryResend].map((event) => ({
        topic: events.topics.couponIssued,
        key: messageKey(event),
        event,
      })),
    );

    let recorded: EventOf<'coupon.recorded'>[] = [];
    await waitUntil(
      'two coupon.recorded',
      async () => {
        const all = await readTopic(events.topics.couponRecorded, 1, 20_000, 500);
        recorded = all
          .map((message) => JSON.parse(message.value) as EventOf<'coupon.recorded'>)
          .filter((event) => event.data.campaignId === campaignId);
        return recorded.length >= 2;
      },
      30_000,
    );
    // The same event twice in one batch is one delivery; the re-send with a new id is answered so recovery can stop.
    assert.equal(recorded.length, 2);
    for (const event of recorded) {
      assert.deepEqual(
        { ...event.data, recordedAt: undefined },
        {
          couponId: issued.data.couponId,
          campaignId,
          userUuid,
          recordedAt: undefined,
        },
      );
    }
    assert.equal(await recordedCount(campaignId), 1);
    const rows = await service.database.db
      .selectFrom('issued_coupons')
      .selectAll()
      .where('campaign_id', '=', campaignId)
      .execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.code, issued.data.code);
  });

  it('when no coupon of a campaign was recorded, then the count is 0', async () => {
    assert.equal(await recordedCount(newEventId()), 0);
  });
});
