import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventOf } from '@nuri/contracts/events';
import { campaignKeys } from '../../src/redis/campaign-store.ts';
import {
  createTestDatabase,
  createTopics,
  issue,
  newUser,
  removeTopics,
  startCoupon,
  startTopicReader,
  type TestCoupon,
  uniqueTopics,
  unpluggableProducer,
  waitUntil,
} from './helpers.ts';

describe('Kafka unavailable mid-race', { timeout: 120_000 }, () => {
  const topics = uniqueTopics('outage');
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let kafka: ReturnType<typeof unpluggableProducer>;
  let coupon: TestCoupon;

  before(async () => {
    testDatabase = await createTestDatabase('outage');
    await createTopics(topics);
    kafka = unpluggableProducer('coupon-test-outage');
    coupon = await startCoupon({ database: testDatabase.database, topics, producer: kafka.producer });
  });
  after(async () => {
    await coupon?.close();
    await kafka?.producer.close();
    await removeTopics(topics);
    await testDatabase?.drop();
  });

  it('when the broker goes away during a race, then the requests it strands get 503 and their stock comes back; issued + remaining = quantity throughout; with Kafka back, a retry wins', async () => {
    const quantity = 150;
    const { campaignId } = await coupon.createCampaign({ name: 'outage', quantity });
    const keys = campaignKeys(campaignId);
    const reader = await startTopicReader(topics.couponIssued);
    after(() => reader.stop());
    const users = Array.from({ length: 100 }, () => newUser());
    const tokens = await Promise.all(users.map((user) => coupon.tokenFor(user)));

    // Watch the invariant while the race runs: every script is atomic, so a
    // snapshot never sees a taken coupon without its holder or the reverse.
    const violations: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const [[, remaining], [, holders]] = (await coupon.redis
          .multi()
          .hget(keys.meta, 'remaining')
          .hlen(keys.holders)
          .exec()) as [[null, string], [null, number]];
        if (Number(remaining) + holders !== quantity)
          violations.push(`remaining ${remaining} + holders ${holders}`);
        await sleep(2);
      }
    })();

    // The first 40 requests arrive over ~80 ms; after the 30th answer the plug
    // is pulled, so what is not yet acked by then fails. The other 60 arrive
    // only once it is pulled (a loaded machine could otherwise answer all 100
    // before the 30th answer is counted), so some requests are always stranded.
    let answered = 0;
    let pulled: () => void = () => {};
    const unplugged = new Promise<void>((resolve) => {
      pulled = resolve;
    });
    const firstWave = 40;
    const responses = await Promise.all(
      tokens.map(async (token, index) => {
        if (index >= firstWave) await unplugged;
        await sleep((index % firstWave) * 2);
        const response = await issue(coupon, campaignId, token);
        answered += 1;
        if (answered === 30) {
          kafka.unplug();
          pulled();
        }
        return response;
      }),
    );
    watching = false;
    await watcher;

    assert.deepEqual(violations, []);
    const won = responses.filter((response) => response.statusCode === 201);
    const unavailable = responses.filter((response) => response.statusCode === 503);
    assert.equal(won.length + unavailable.length, 100, 'only 201 or 503');
    assert.ok(won.length > 0, 'some requests were acked before the plug was pulled');
    assert.ok(unavailable.length > 0, 'some requests were stranded');
    for (const response of unavailable) {
      assert.equal(response.json().code, 'COUPON_UNAVAILABLE');
      assert.equal(response.headers['retry-after'], '1');
    }
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, quantity - won.length);
    assert.equal(await coupon.redis.hlen(keys.holders), won.length);
    assert.equal(await coupon.redis.zcard(keys.pending), won.length);
    const metrics = await coupon.app.inject({ url: '/metrics' });
    assert.match(metrics.body, new RegExp(`nuri_coupon_rollback_total\\{[^}]*\\} ${unavailable.length}\\n`));

    // Kafka is back: every stranded user retries and wins.
    kafka.plugIn();
    const retried = await Promise.all(
      responses.map((response, index) =>
        response.statusCode === 503 ? issue(coupon, campaignId, tokens[index]!) : Promise.resolve(response),
      ),
    );
    assert.ok(retried.every((response) => response.statusCode === 201));
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, quantity - 100);

    // Kafka carries exactly the coupons that were answered 201.
    await waitUntil('100 coupon.issued', () => reader.received.length >= 100, 20_000);
    await sleep(500);
    const sent = reader.events<EventOf<'coupon.issued'>>().map((event) => event.data.couponId);
    assert.deepEqual(sent.sort(), retried.map((response) => response.json().couponId).sort());
  });
});
