import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventOf } from '@nuri/contracts/events';
import { campaignKeys, parseHeld } from '../../src/redis/campaign-store.ts';
import {
  createTestDatabase,
  createTopics,
  holdableProducer,
  issue,
  newUser,
  removeTopics,
  startCoupon,
  startTopicReader,
  type TestCoupon,
  uniqueTopics,
  waitUntil,
} from './helpers.ts';

// Chaos finding 6: a user's first send is slow (a slow or absent broker) and
// the user asks again meanwhile. The repeat must not be told 409
// ALREADY_ISSUED naming that coupon while its send may still fail: when it
// does fail for sure, it is rolled back and the user never holds it. The
// sends here are held in flight for real and then acked by the real broker or
// refused by a port where no broker listens.

type Answer = Awaited<ReturnType<typeof issue>>;

describe('a repeated issue while the first send is in flight', { timeout: 90_000 }, () => {
  const topics = uniqueTopics('sending');
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let kafka: ReturnType<typeof holdableProducer>;
  let coupon: TestCoupon;
  let reader: Awaited<ReturnType<typeof startTopicReader>>;

  before(async () => {
    testDatabase = await createTestDatabase('sending');
    await createTopics(topics);
    kafka = holdableProducer('coupon-test-sending');
    coupon = await startCoupon({ database: testDatabase.database, topics, producer: kafka.producer });
    reader = await startTopicReader(topics.couponIssued);
  });
  after(async () => {
    await reader?.stop();
    await coupon?.close();
    await kafka?.producer.close();
    await removeTopics(topics);
    await testDatabase?.drop();
  });

  async function heldBy(campaignId: string, user: string) {
    const value = await coupon.redis.hget(campaignKeys(campaignId).holders, user);
    return value === null ? undefined : parseHeld(value);
  }

  /** The coupons Kafka carries for the user (what the core records, so what the user holds). */
  async function sentTo(user: string, expected: number): Promise<string[]> {
    const mine = () =>
      reader
        .events<EventOf<'coupon.issued'>>()
        .filter((event) => event.data.userUuid === user)
        .map((event) => event.data.couponId);
    await waitUntil(`${expected} coupon.issued for the user`, () => mine().length >= expected, 15_000);
    await sleep(300);
    return [...new Set(mine())];
  }

  /** As the chaos checker reads it: every 409 ALREADY_ISSUED named the coupon the user ends up holding. */
  function assertEvery409Names(answers: readonly Answer[], holding: string): void {
    for (const answer of answers) {
      if (answer.statusCode !== 409) continue;
      assert.equal(answer.json().code, 'ALREADY_ISSUED');
      assert.equal(answer.json().couponId, holding, 'a 409 named a coupon the user does not end up holding');
    }
  }

  async function issueWhileHeld(campaignId: string, token: string) {
    const send = kafka.holdNextSend();
    const first = issue(coupon, campaignId, token);
    await send.entered;
    return { send, first };
  }

  it('when the first send fails for sure while the repeat waits, then the repeat is not told 409 about the rolled-back coupon, and the user ends up with exactly one coupon', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'sending-fails', quantity: 5 });
    const user = newUser();
    const token = await coupon.tokenFor(user);

    const { send, first } = await issueWhileHeld(campaignId, token);
    const pending = await heldBy(campaignId, user);
    assert.ok(pending !== undefined, 'the first request won and its send is in flight');
    const repeat = issue(coupon, campaignId, token);
    await sleep(200);
    send.fail();
    const [firstAnswer, repeatAnswer] = await Promise.all([first, repeat]);

    assert.equal(firstAnswer.statusCode, 503, firstAnswer.body);
    assert.equal(firstAnswer.json().code, 'COUPON_UNAVAILABLE');
    assert.notEqual(
      repeatAnswer.json().couponId,
      pending.couponId,
      `the repeat named the coupon that was rolled back: ${repeatAnswer.statusCode} ${repeatAnswer.body}`,
    );
    // The repeat waited for the outcome: the first was rolled back, so it issued afresh.
    assert.equal(repeatAnswer.statusCode, 201, repeatAnswer.body);
    const couponId: string = repeatAnswer.json().couponId;

    const again = await issue(coupon, campaignId, token);
    assert.equal(again.statusCode, 409, again.body);
    assertEvery409Names([repeatAnswer, again], couponId);
    assert.equal((await heldBy(campaignId, user))?.couponId, couponId);
    assert.deepEqual(
      await sentTo(user, 1),
      [couponId],
      'Kafka carries one coupon for the user, not the failed one',
    );
    assert.equal(
      (await coupon.store.readStock(campaignId))?.remaining,
      4,
      'one coupon taken, the failed one returned',
    );
    const list = await coupon.app.inject({
      url: '/api/v1/coupons',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.deepEqual(
      list.json().items.map((item: { couponId: string }) => item.couponId),
      [couponId],
    );
  });

  it('when the first send is still in flight after the repeat has waited, then the repeat answers 503 COUPON_UNAVAILABLE, never 409; once the send fails, a retry gets the one coupon', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'sending-slow', quantity: 5 });
    const user = newUser();
    const token = await coupon.tokenFor(user);

    const { send, first } = await issueWhileHeld(campaignId, token);
    const pending = await heldBy(campaignId, user);
    assert.ok(pending !== undefined);
    // The first send stays in flight until the repeat has its answer.
    let repeatAnswer: Answer;
    try {
      repeatAnswer = await issue(coupon, campaignId, token);
      assert.notEqual(
        repeatAnswer.json().couponId,
        pending.couponId,
        `the repeat named a coupon still in flight: ${repeatAnswer.statusCode} ${repeatAnswer.body}`,
      );
      assert.equal(repeatAnswer.statusCode, 503, repeatAnswer.body);
      assert.equal(repeatAnswer.json().code, 'COUPON_UNAVAILABLE');
      assert.doesNotMatch(repeatAnswer.json().detail, /no coupon was issued/i, 'it may yet be issued');
    } finally {
      send.fail();
    }
    const firstAnswer = await first;
    assert.equal(firstAnswer.statusCode, 503, firstAnswer.body);
    assert.equal(await heldBy(campaignId, user), undefined, 'the failed coupon was rolled back');

    const retried = await issue(coupon, campaignId, token);
    assert.equal(retried.statusCode, 201, retried.body);
    const couponId: string = retried.json().couponId;
    assert.notEqual(couponId, pending.couponId);
    const again = await issue(coupon, campaignId, token);
    assertEvery409Names([repeatAnswer, retried, again], couponId);
    assert.equal(again.statusCode, 409);
    assert.deepEqual(await sentTo(user, 1), [couponId]);
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 4);
  });

  it('when the first send is acked while the repeat waits, then the first gets 201 and the repeat 409 naming that very coupon', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'sending-acked', quantity: 5 });
    const user = newUser();
    const token = await coupon.tokenFor(user);

    const { send, first } = await issueWhileHeld(campaignId, token);
    const repeat = issue(coupon, campaignId, token);
    await sleep(200);
    send.ack();
    const [firstAnswer, repeatAnswer] = await Promise.all([first, repeat]);

    assert.equal(firstAnswer.statusCode, 201, firstAnswer.body);
    const couponId: string = firstAnswer.json().couponId;
    assert.equal(repeatAnswer.statusCode, 409, repeatAnswer.body);
    assertEvery409Names([repeatAnswer], couponId);
    assert.deepEqual(await sentTo(user, 1), [couponId]);
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 4);
  });
});
