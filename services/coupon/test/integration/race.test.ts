import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EventProducer } from '@nuri/platform/kafka/producer';
// core-payment is the real consumer of coupon.issued: the race ends in its
// ledger, so this file boots it (test helpers only; the services never import each other).
import {
  type TestEvents as CoreEvents,
  type TestService as CoreService,
  auth as coreAuth,
  startService as startCore,
  startEvents as startCoreEvents,
} from '../../../core-payment/test/integration/helpers.ts';
import { campaignKeys } from '../../src/redis/campaign-store.ts';
import {
  createTestDatabase,
  issue,
  newProducer,
  newUser,
  startCoupon,
  type TestCoupon,
  waitUntil,
} from './helpers.ts';

describe('first come, first served', { timeout: 180_000 }, () => {
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let core: CoreService;
  let coreEvents: CoreEvents;
  let producer: EventProducer;
  let coupon: TestCoupon;

  async function recordedByCore(campaignId: string): Promise<number> {
    const response = await core.app.inject({
      url: `/internal/v1/coupon-campaigns/${campaignId}/recorded-count`,
      headers: coreAuth,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().recorded;
  }

  before(async () => {
    testDatabase = await createTestDatabase('race');
    core = await startCore('coupon_race');
    coreEvents = await startCoreEvents(core, 'couponrace');
    producer = newProducer('coupon-test-race');
    coupon = await startCoupon({
      database: testDatabase.database,
      topics: {
        couponIssued: coreEvents.topics.couponIssued,
        couponRecorded: coreEvents.topics.couponRecorded,
      },
      producer,
      withConsumer: true,
      core: { countRecorded: recordedByCore },
    });
  });
  after(async () => {
    await coupon?.close();
    await producer?.close();
    await coreEvents?.stop();
    await core?.close();
    await testDatabase?.drop();
  });

  it('when 1,000 users race for 100 coupons, then exactly 100 win, 900 get 410 SOLD_OUT, and the core ends with exactly those 100', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'rush', quantity: 100 });
    const users = Array.from({ length: 1_000 }, () => newUser());
    const tokens = await Promise.all(users.map((user) => coupon.tokenFor(user)));

    const responses = await Promise.all(tokens.map((token) => issue(coupon, campaignId, token)));

    const byStatus = Map.groupBy(responses, (response) => response.statusCode);
    assert.deepEqual([...byStatus.keys()].sort(), [201, 410]);
    assert.equal(byStatus.get(201)?.length, 100);
    assert.ok(byStatus.get(410)!.every((response) => response.json().code === 'SOLD_OUT'));
    const winners = byStatus.get(201)!.map((response) => response.json());
    assert.equal(new Set(winners.map((won) => won.couponId)).size, 100);
    assert.equal(new Set(winners.map((won) => won.code)).size, 100);

    const keys = campaignKeys(campaignId);
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 0);
    assert.equal(await coupon.redis.hlen(keys.holders), 100);

    // The core records each coupon once and answers coupon.recorded; the
    // mirror has them all in MySQL, and nothing is left pending.
    await waitUntil(
      'the core to record 100 coupons',
      async () => (await recordedByCore(campaignId)) >= 100,
      60_000,
    );
    await waitUntil('pending to drain', async () => (await coupon.redis.zcard(keys.pending)) === 0, 30_000);
    await waitUntil(
      'MySQL mirror to mark all recorded',
      async () => {
        const rows = await testDatabase.database.db
          .selectFrom('issued_coupons')
          .select(['coupon_id', 'recorded_at'])
          .where('campaign_id', '=', campaignId)
          .execute();
        return rows.length === 100 && rows.every((row) => row.recorded_at !== null);
      },
      30_000,
    );
    assert.equal(await recordedByCore(campaignId), 100);
    const coreRows = await core.database.db
      .selectFrom('issued_coupons')
      .select(['coupon_id', 'code'])
      .where('campaign_id', '=', campaignId)
      .execute();
    assert.deepEqual(coreRows.map((row) => row.coupon_id).sort(), winners.map((won) => won.couponId).sort());

    const campaign = await coupon.app.inject({
      url: `/api/v1/coupon-campaigns/${campaignId}`,
      headers: { authorization: `Bearer ${tokens[0]}` },
    });
    assert.equal(campaign.json().issued, 100);
    assert.equal(campaign.json().remaining, 0);
  });

  it('when one user sends 20 requests at once, then one wins and 19 get 409 ALREADY_ISSUED naming that coupon', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'greedy', quantity: 5 });
    const token = await coupon.tokenFor(newUser());

    const responses = await Promise.all(Array.from({ length: 20 }, () => issue(coupon, campaignId, token)));

    const won = responses.filter((response) => response.statusCode === 201);
    assert.equal(won.length, 1);
    const couponId = won[0]!.json().couponId;
    const refused = responses.filter((response) => response.statusCode === 409);
    assert.equal(refused.length, 19);
    for (const response of refused) {
      assert.equal(response.json().code, 'ALREADY_ISSUED');
      assert.equal(response.json().couponId, couponId);
    }
    assert.equal((await coupon.store.readStock(campaignId))?.remaining, 4);
    await waitUntil('the core to record it', async () => (await recordedByCore(campaignId)) === 1, 30_000);
  });
});
