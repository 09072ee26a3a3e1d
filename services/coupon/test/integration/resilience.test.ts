import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { uuidv7 } from '@nuri/platform/ids';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import { createRedis } from '@nuri/platform/redis';
import {
  type TestEvents as CoreEvents,
  type TestService as CoreService,
  auth as coreAuth,
  startService as startCore,
  startEvents as startCoreEvents,
} from '../../../core-payment/test/integration/helpers.ts';
import { newCouponCode } from '../../src/domain/coupon-code.ts';
import { campaignKeys, parseHeld } from '../../src/redis/campaign-store.ts';
import {
  createTestDatabase,
  issue,
  newProducer,
  newUser,
  redisUrl,
  startCoupon,
  type TestCoupon,
  waitUntil,
} from './helpers.ts';

/** EVALSHA calls that failed (NOSCRIPT among them) since Redis started. */
async function evalshaFailures(redis: ReturnType<typeof createRedis>): Promise<number> {
  const line = /cmdstat_evalsha:([^\r\n]*)/.exec(await redis.info('commandstats'))?.[1] ?? '';
  const count = (field: string) => Number(new RegExp(`${field}=(\\d+)`).exec(line)?.[1] ?? 0);
  return count('failed_calls') + count('rejected_calls');
}

describe('coupon issue survives crashes, script flushes and a Redis that forgot', {
  timeout: 240_000,
}, () => {
  const sendDelayMs = 1_000;
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let core: CoreService;
  let coreEvents: CoreEvents;
  let producer: EventProducer;
  let slowSends = false;
  let coupon: TestCoupon;

  async function recordedByCore(campaignId: string): Promise<number> {
    const response = await core.app.inject({
      url: `/internal/v1/coupon-campaigns/${campaignId}/recorded-count`,
      headers: coreAuth,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().recorded;
  }

  async function coreCouponIds(campaignId: string): Promise<string[]> {
    const rows = await core.database.db
      .selectFrom('issued_coupons')
      .select('coupon_id')
      .where('campaign_id', '=', campaignId)
      .execute();
    return rows.map((row) => row.coupon_id).sort();
  }

  async function redisCouponIds(campaignId: string): Promise<string[]> {
    const holders = await coupon.redis.hvals(campaignKeys(campaignId).holders);
    return holders.map((value) => parseHeld(value).couponId).sort();
  }

  before(async () => {
    testDatabase = await createTestDatabase('resilience');
    core = await startCore('coupon_resilience');
    coreEvents = await startCoreEvents(core, 'couponresilience');
    const realProducer = newProducer('coupon-test-resilience');
    // While slowSends is on, each send takes a second: a send "in flight" when Redis forgets.
    producer = {
      ...realProducer,
      sendEvents: async (events) => {
        if (slowSends) await sleep(sendDelayMs);
        return realProducer.sendEvents(events);
      },
      close: () => realProducer.close(),
    };
    coupon = await startCoupon({
      database: testDatabase.database,
      topics: {
        couponIssued: coreEvents.topics.couponIssued,
        couponRecorded: coreEvents.topics.couponRecorded,
      },
      producer,
      withConsumer: true,
      core: { countRecorded: recordedByCore },
      // Longer than the slowest send, as in production (see config.ts).
      rebuild: { settleMs: sendDelayMs * 2 },
    });
  });
  after(async () => {
    await coupon?.close();
    await producer?.close();
    await coreEvents?.stop();
    await core?.close();
    await testDatabase?.drop();
  });

  it('when the process dies between the script and the send, then the recovery job re-sends after the grace period and the core ends with exactly the coupons Redis issued', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'crash', quantity: 10 });
    const keys = campaignKeys(campaignId);
    for (let index = 0; index < 3; index += 1) {
      assert.equal((await issue(coupon, campaignId, await coupon.tokenFor(newUser()))).statusCode, 201);
    }
    // Four wins whose process "died" before the send: the script ran, Kafka never heard.
    for (let index = 0; index < 4; index += 1) {
      const decision = await coupon.store.issue(campaignId, {
        userUuid: newUser(),
        couponId: uuidv7(),
        code: newCouponCode(),
      });
      assert.equal(decision.outcome, 'ISSUED');
    }
    await waitUntil(
      'the three sent to be recorded',
      async () => (await recordedByCore(campaignId)) === 3,
      30_000,
    );
    await waitUntil(
      'only the four unsent to be pending',
      async () => (await coupon.redis.zcard(keys.pending)) === 4,
      30_000,
    );

    assert.equal(await coupon.recover(60_000), 0, 'nothing is re-sent inside the grace period');
    const resent = await coupon.recover(0);

    assert.equal(resent, 4);
    await waitUntil(
      'the core to record all seven',
      async () => (await recordedByCore(campaignId)) === 7,
      30_000,
    );
    await waitUntil('pending to drain', async () => (await coupon.redis.zcard(keys.pending)) === 0, 30_000);
    assert.deepEqual(await coreCouponIds(campaignId), await redisCouponIds(campaignId));
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 3);
    // A second run has nothing left to do.
    assert.equal(await coupon.recover(0), 0);
  });

  it('when the script cache is flushed mid-race, then no request fails', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'flush', quantity: 100 });
    const tokens = await Promise.all(Array.from({ length: 300 }, () => coupon.tokenFor(newUser())));
    const admin = createRedis({ url: redisUrl, name: 'coupon-test-flusher' });
    const failuresBefore = await evalshaFailures(admin);

    // Waves of 30 requests, a SCRIPT FLUSH right behind each wave while it is in flight.
    const pending: Promise<Awaited<ReturnType<typeof issue>>>[] = [];
    let flushes = 0;
    for (let wave = 0; wave < 10; wave += 1) {
      for (const token of tokens.slice(wave * 30, (wave + 1) * 30))
        pending.push(issue(coupon, campaignId, token));
      await admin.script('FLUSH');
      flushes += 1;
      await sleep(5);
    }
    const responses = await Promise.all(pending);
    const failuresAfter = await evalshaFailures(admin);
    await admin.quit();

    assert.ok(failuresAfter > failuresBefore, 'some EVALSHA met NOSCRIPT and was re-sent');
    assert.equal(flushes, 10);
    const unexpected = responses.filter(
      (response) => response.statusCode !== 201 && response.statusCode !== 410,
    );
    assert.deepEqual(
      unexpected.map((response) => response.json()),
      [],
    );
    const statuses = responses.map((response) => response.statusCode);
    assert.equal(statuses.filter((status) => status === 201).length, 100);
    assert.equal(statuses.filter((status) => status === 410).length, 200);
    await waitUntil('the core to record 100', async () => (await recordedByCore(campaignId)) === 100, 30_000);
  });

  it('when Redis loses a campaign (one send still in flight), then it is rebuilt from MySQL and the core before any answer, holders keep their coupons, and nothing is over-issued', async () => {
    const quantity = 40;
    const { campaignId } = await coupon.createCampaign({ name: 'amnesia', quantity });
    const keys = campaignKeys(campaignId);
    const early = Array.from({ length: 15 }, () => newUser());
    const earlyTokens = await Promise.all(early.map((user) => coupon.tokenFor(user)));
    const earlyWins = await Promise.all(earlyTokens.map((token) => issue(coupon, campaignId, token)));
    assert.ok(earlyWins.every((response) => response.statusCode === 201));
    // A win that never reached Kafka (its process died): it made no promise, so its stock may return.
    await coupon.store.issue(campaignId, { userUuid: newUser(), couponId: uuidv7(), code: newCouponCode() });
    await waitUntil(
      'the core to record the early wins',
      async () => (await recordedByCore(campaignId)) === 15,
      30_000,
    );

    // One more user wins, but the ack is slow; Redis forgets everything while it is in flight.
    slowSends = true;
    const lateUser = newUser();
    const lateToken = await coupon.tokenFor(lateUser);
    const lateWin = issue(coupon, campaignId, lateToken);
    await waitUntil(
      'the late win to take its stock',
      async () => (await coupon.redis.hlen(keys.holders)) === 17,
      5_000,
    );
    await coupon.redis.del(keys.meta, keys.holders, keys.pending);
    slowSends = false;

    // Everyone rushes at once: the early winners again, the late one, and 60 newcomers.
    const newcomers = await Promise.all(Array.from({ length: 60 }, () => coupon.tokenFor(newUser())));
    const [late, ...rush] = await Promise.all([
      lateWin,
      ...earlyTokens.map((token) => issue(coupon, campaignId, token)),
      issue(coupon, campaignId, lateToken),
      ...newcomers.map((token) => issue(coupon, campaignId, token)),
    ]);
    assert.equal(late!.statusCode, 201, 'the in-flight send was acked: its promise holds');
    const earlyAgain = rush.slice(0, 15);
    earlyAgain.forEach((response, index) => {
      assert.equal(response.statusCode, 409);
      assert.equal(response.json().code, 'ALREADY_ISSUED');
      assert.equal(response.json().couponId, earlyWins[index]!.json().couponId);
    });
    const lateAgain = rush[15]!;
    assert.equal(lateAgain.statusCode, 409, 'the rebuild waited for the in-flight send');
    assert.equal(lateAgain.json().couponId, late!.json().couponId);
    const newcomerResults = rush.slice(16).map((response) => response.statusCode);
    // 40 − 15 early − 1 late = 24 left; the unsent win's stock came back.
    assert.equal(newcomerResults.filter((status) => status === 201).length, 24);
    assert.equal(newcomerResults.filter((status) => status === 410).length, 36);

    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 0);
    await waitUntil(
      'the core to record exactly the quantity',
      async () => (await recordedByCore(campaignId)) === quantity,
      30_000,
    );
    await sleep(500);
    assert.equal(await recordedByCore(campaignId), quantity);
    assert.deepEqual(await coreCouponIds(campaignId), await redisCouponIds(campaignId));
    const metrics = await coupon.app.inject({ url: '/metrics' });
    assert.match(metrics.body, /nuri_coupon_campaign_rebuilds_total\{[^}]*\} 1\n/);
  });
});
