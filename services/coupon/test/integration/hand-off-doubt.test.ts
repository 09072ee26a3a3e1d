import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventOf } from '@nuri/contracts/events';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import { campaignKeys } from '../../src/redis/campaign-store.ts';
import {
  createTestDatabase,
  createTopics,
  issue,
  newProducer,
  newUser,
  removeTopics,
  startCoupon,
  startTopicReader,
  type TestCoupon,
  uniqueTopics,
  waitUntil,
} from './helpers.ts';

// A send that reached the broker but whose ack never came back (a timeout
// after writing): the broker has the coupon. The user must not be told that
// nothing was issued, and their retry must get that coupon, never a second.

describe('a hand-off whose fate is unknown', { timeout: 60_000 }, () => {
  const topics = uniqueTopics('doubt');
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let real: EventProducer;
  let coupon: TestCoupon;
  let losingAcks = 0;

  before(async () => {
    testDatabase = await createTestDatabase('doubt');
    await createTopics(topics);
    real = newProducer('coupon-test-doubt');
    // Sends for real, then, while losingAcks > 0, reports a timeout as if the ack had been lost.
    const ackLosing: EventProducer = {
      async sendEvents(events) {
        await real.sendEvents(events);
        if (losingAcks > 0) {
          losingAcks -= 1;
          throw Object.assign(new Error('Request timed out waiting for the produce response'), {
            code: 'PLT_KFK_TIMEOUT',
          });
        }
      },
      sendRaw: (messages) => real.sendRaw(messages),
      get inFlight() {
        return real.inFlight;
      },
      close: () => real.close(),
    };
    coupon = await startCoupon({ database: testDatabase.database, topics, producer: ackLosing });
  });
  after(async () => {
    await coupon?.close();
    await real?.close();
    await removeTopics(topics);
    await testDatabase?.drop();
  });

  it('when the ack of a sent coupon is lost, then the user gets 503 without "nothing was issued", the coupon stays theirs, and the retry answers 201 with that same coupon', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'doubt', quantity: 5 });
    const reader = await startTopicReader(topics.couponIssued);
    after(() => reader.stop());
    const user = newUser();
    const token = await coupon.tokenFor(user);

    losingAcks = 1;
    const first = await issue(coupon, campaignId, token);
    assert.equal(first.statusCode, 503);
    assert.equal(first.json().code, 'COUPON_UNAVAILABLE');
    assert.doesNotMatch(first.json().detail, /no coupon was issued/i);
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 4, 'the coupon stays taken');
    const held = await coupon.redis.hget(campaignKeys(campaignId).holders, user);
    assert.ok(held !== null, 'the user still holds it');

    const retried = await issue(coupon, campaignId, token);
    assert.equal(retried.statusCode, 201, retried.body);
    assert.equal(retried.json().couponId, held.split('|')[0], 'the very coupon Kafka already had');
    const again = await issue(coupon, campaignId, token);
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'ALREADY_ISSUED');
    assert.equal(again.json().couponId, retried.json().couponId);

    await waitUntil('both sends on the topic', () => reader.received.length >= 2, 15_000);
    await sleep(300);
    const couponIds = new Set(reader.events<EventOf<'coupon.issued'>>().map((event) => event.data.couponId));
    assert.deepEqual([...couponIds], [retried.json().couponId], 'one coupon for the user, sent twice');
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 4);
  });
});
