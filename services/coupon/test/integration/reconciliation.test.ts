import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import { campaignKeys } from '../../src/redis/campaign-store.ts';
import {
  adminAuth,
  createTestDatabase,
  createTopics,
  issue,
  newProducer,
  newUser,
  opsAuth,
  removeTopics,
  startCoupon,
  type TestCoupon,
  uniqueTopics,
} from './helpers.ts';

interface ReportJson {
  ok: boolean;
  campaigns: Array<{
    campaignId: string;
    quantity: number;
    issuedInRedis: number;
    recordedInCore: number;
    pending: number;
    pendingOverdue: number;
  }>;
  mismatches: Array<{ campaignId: string; reason: string }>;
  notLoaded: string[];
}

// GET /internal/v1/reconciliation against real Redis and MariaDB. The core's
// recorded count is a stub the tests set, so each story can put the core
// behind, level or ahead of Redis; no coupon.recorded consumer runs, so every
// issued coupon stays pending unless a test says otherwise.
describe('coupon reconciliation', { timeout: 60_000 }, () => {
  const topics = uniqueTopics('reconcile');
  const graceMs = 30_000;
  const recordedInCore = new Map<string, number>();
  let coreDown = false;
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let producer: EventProducer;
  let coupon: TestCoupon;

  before(async () => {
    testDatabase = await createTestDatabase('reconcile');
    await createTopics(topics);
    producer = newProducer('coupon-test-reconcile');
    coupon = await startCoupon({
      database: testDatabase.database,
      topics,
      producer,
      recoveryGraceMs: graceMs,
      core: {
        countRecorded: async (campaignId) => {
          if (coreDown) throw new Error('connect ECONNREFUSED');
          return recordedInCore.get(campaignId) ?? 0;
        },
      },
    });
  });
  after(async () => {
    await coupon?.close();
    await producer?.close();
    await removeTopics(topics);
    await testDatabase?.drop();
  });
  beforeEach(() => {
    coreDown = false;
  });

  async function report(headers: Record<string, string> = opsAuth) {
    return coupon.app.inject({ method: 'GET', url: '/internal/v1/reconciliation', headers });
  }

  async function campaignWithCoupons(quantity: number, couponCount: number) {
    const { campaignId } = await coupon.createCampaign({ name: 'Reconcile', quantity });
    const holders: string[] = [];
    for (let i = 0; i < couponCount; i += 1) {
      const userUuid = newUser();
      const response = await issue(coupon, campaignId, await coupon.tokenFor(userUuid));
      assert.equal(response.statusCode, 201, response.body);
      holders.push(userUuid);
    }
    return { campaignId, holders };
  }

  function entryOf(body: ReportJson, campaignId: string) {
    return body.campaigns.find((entry) => entry.campaignId === campaignId);
  }

  it('when the internal token is missing or is another token, then 401 and the other routes keep their own auth', async () => {
    for (const headers of [{}, adminAuth, { authorization: `Bearer ${await coupon.tokenFor(newUser())}` }]) {
      const response = await report(headers);
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().code, 'UNAUTHENTICATED');
    }
    // An internal path that matches no route needs the token too, so routes do not leak.
    const unknown = await coupon.app.inject({ method: 'GET', url: '/internal/v1/nothing-here' });
    assert.deepEqual([unknown.statusCode, unknown.json().code], [401, 'UNAUTHENTICATED']);
    const known = await coupon.app.inject({
      method: 'GET',
      url: '/internal/v1/nothing-here',
      headers: opsAuth,
    });
    assert.equal(known.statusCode, 404);
    // The internal scope guards /internal only: a user token still lists coupons without it.
    const listed = await coupon.app.inject({
      method: 'GET',
      url: '/api/v1/coupons',
      headers: { authorization: `Bearer ${await coupon.tokenFor(newUser())}` },
    });
    assert.equal(listed.statusCode, 200);
    // …and the internal token opens neither user nor admin routes.
    const asUser = await coupon.app.inject({ method: 'GET', url: '/api/v1/coupons', headers: opsAuth });
    assert.equal(asUser.statusCode, 401);
    const asAdmin = await coupon.app.inject({
      method: 'POST',
      url: '/api/v1/admin/coupon-campaigns',
      headers: opsAuth,
      payload: { name: 'x', quantity: 1 },
    });
    assert.equal(asAdmin.statusCode, 403);
  });

  it('when issued coupons are not yet recorded but are younger than the grace period, then they are in flight and ok', async () => {
    const { campaignId } = await campaignWithCoupons(5, 2);
    recordedInCore.set(campaignId, 0);

    const response = await report();

    assert.equal(response.statusCode, 200, response.body);
    const body = response.json<ReportJson>();
    assert.deepEqual(entryOf(body, campaignId), {
      campaignId,
      quantity: 5,
      issuedInRedis: 2,
      recordedInCore: 0,
      pending: 2,
      pendingOverdue: 0,
    });
    assert.ok(!body.mismatches.some((mismatch) => mismatch.campaignId === campaignId));
  });

  it('when the core recorded every issued coupon, then the campaign agrees', async () => {
    const { campaignId } = await campaignWithCoupons(3, 3);
    recordedInCore.set(campaignId, 3);

    const body = (await report()).json<ReportJson>();

    assert.equal(entryOf(body, campaignId)?.issuedInRedis, 3);
    assert.ok(!body.mismatches.some((mismatch) => mismatch.campaignId === campaignId));
  });

  it('when an unrecorded coupon is older than the grace period, then it is a mismatch and ok is false', async () => {
    const { campaignId, holders } = await campaignWithCoupons(5, 2);
    recordedInCore.set(campaignId, 0);
    // As if the first coupon had been issued an hour ago and never came back
    // recorded: the young second one can explain one missing coupon, not two.
    await coupon.redis.zadd(campaignKeys(campaignId).pending, 'XX', Date.now() - 3_600_000, holders[0]!);

    const body = (await report()).json<ReportJson>();

    assert.equal(body.ok, false);
    assert.equal(entryOf(body, campaignId)?.pendingOverdue, 1);
    assert.deepEqual(
      body.mismatches.filter((m) => m.campaignId === campaignId).map((m) => m.reason),
      ['ISSUED_BUT_NOT_RECORDED'],
    );
    recordedInCore.set(campaignId, 2); // leave the campaign agreeing for the stories after this one
  });

  it('when the core holds more coupons than Redis issued, then it is a mismatch', async () => {
    const { campaignId } = await campaignWithCoupons(5, 1);
    recordedInCore.set(campaignId, 2);

    const body = (await report()).json<ReportJson>();

    assert.deepEqual(
      body.mismatches.filter((m) => m.campaignId === campaignId).map((m) => m.reason),
      ['RECORDED_BUT_NOT_ISSUED'],
    );
    recordedInCore.set(campaignId, 1);
  });

  it('when Redis counts more coupons than the quantity, then it is a mismatch even though the core agrees', async () => {
    const { campaignId } = await campaignWithCoupons(1, 1);
    await coupon.redis.hset(campaignKeys(campaignId).meta, 'remaining', -1);
    recordedInCore.set(campaignId, 2);

    const body = (await report()).json<ReportJson>();

    assert.deepEqual(
      body.mismatches.filter((m) => m.campaignId === campaignId).map((m) => m.reason),
      ['OVER_ISSUED'],
    );
    await coupon.redis.hset(campaignKeys(campaignId).meta, 'remaining', 0);
    recordedInCore.set(campaignId, 1);
  });

  it('when a campaign has no live state in Redis, then it is named as not loaded and not compared', async () => {
    const { campaignId } = await coupon.createCampaign({ name: 'Lost', quantity: 2 });
    await coupon.redis.del(campaignKeys(campaignId).meta);

    const body = (await report()).json<ReportJson>();

    assert.ok(body.notLoaded.includes(campaignId));
    assert.equal(entryOf(body, campaignId), undefined);
  });

  it('when every campaign agrees, then ok is true', async () => {
    const body = (await report()).json<ReportJson>();
    assert.deepEqual(body.mismatches, []);
    assert.equal(body.ok, true);
  });

  it('when the core cannot be asked, then 503 CORE_UNAVAILABLE', async () => {
    coreDown = true;
    const response = await report();
    assert.equal(response.statusCode, 503);
    assert.equal(response.json().code, 'CORE_UNAVAILABLE');
  });
});
