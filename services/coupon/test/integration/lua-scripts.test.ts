import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '@nuri/platform/ids';
import { createRedis, type Redis } from '@nuri/platform/redis';
import {
  decideAck,
  decideHandOff,
  decideIssue,
  decideRollback,
  type LiveCampaign,
} from '../../src/domain/issue-decision.ts';
import { campaignKeys, createCampaignStore, formatHeld, parseHeld } from '../../src/redis/campaign-store.ts';
import { campaign, heldByA, issueCases, newCoupon, nowMs, userA, userB } from '../issue-cases.ts';
import { deleteCampaignKeys, redisUrl } from './helpers.ts';

// The Lua scripts and the pure state machine are fed the same cases; the
// outcome and the state left behind must agree.

describe('the Lua scripts mirror the state machine', () => {
  let redis: Redis;
  let store: ReturnType<typeof createCampaignStore>;
  const used: string[] = [];

  before(() => {
    redis = createRedis({ url: redisUrl, name: 'coupon-lua-test' });
    store = createCampaignStore(redis);
  });
  after(async () => {
    await deleteCampaignKeys(redis, used);
    await redis.quit();
  });

  async function seed(state: LiveCampaign | undefined): Promise<string> {
    const campaignId = uuidv7();
    used.push(campaignId);
    if (state === undefined) return campaignId;
    const keys = campaignKeys(campaignId);
    for (const [userUuid, held] of state.holders) {
      await redis.hset(keys.holders, userUuid, formatHeld(held));
      if (state.recorded?.has(userUuid) !== true) await redis.zadd(keys.pending, held.issuedAtMs, userUuid);
    }
    await redis.hset(keys.meta, {
      quantity: 10,
      remaining: state.remaining,
      startsAt: state.startsAtMs ?? '',
      endsAt: state.endsAtMs ?? '',
    });
    return campaignId;
  }

  async function holderOf(campaignId: string, userUuid: string) {
    const value = await redis.hget(campaignKeys(campaignId).holders, userUuid);
    return value === null ? undefined : parseHeld(value);
  }

  for (const testCase of issueCases) {
    it(`issue: ${testCase.name}`, async () => {
      const campaignId = await seed(testCase.state);
      const attempt = { userUuid: testCase.userUuid, ...newCoupon, nowMs };
      const expected = decideIssue(testCase.state, attempt);
      const actual = await store.issue(campaignId, attempt);
      assert.deepEqual(actual, expected);
      const stock = await store.readStock(campaignId);
      assert.equal(stock?.remaining, testCase.expectedRemaining);
      if (expected.outcome === 'ISSUED') {
        assert.deepEqual(await holderOf(campaignId, testCase.userUuid), expected.coupon);
        const score = await redis.zscore(campaignKeys(campaignId).pending, testCase.userUuid);
        assert.equal(Number(score), nowMs);
      } else if (testCase.state !== undefined) {
        assert.deepEqual(
          await holderOf(campaignId, testCase.userUuid),
          testCase.state.holders.get(testCase.userUuid),
        );
      }
    });
  }

  it('issue without a passed-in time uses the server clock', async () => {
    const campaignId = await seed(
      campaign({ startsAtMs: Date.now() - 60_000, endsAtMs: Date.now() + 60_000 }),
    );
    const decision = await store.issue(campaignId, { userUuid: userB, ...newCoupon });
    assert.equal(decision.outcome, 'ISSUED');
    assert.ok(decision.outcome === 'ISSUED' && Math.abs(decision.coupon.issuedAtMs - Date.now()) < 5_000);
  });

  const rollbackCases: Array<{
    name: string;
    state: LiveCampaign | undefined;
    userUuid: string;
    couponId: string;
  }> = [
    {
      name: 'holder of that coupon',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: heldByA.couponId,
    },
    {
      name: 'holder of another coupon',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: newCoupon.couponId,
    },
    { name: 'no holder', state: campaign(), userUuid: userA, couponId: heldByA.couponId },
    {
      name: 'coupon already seen in Kafka',
      state: campaign({ holders: new Map([[userA, { ...heldByA, handedOff: true }]]) }),
      userUuid: userA,
      couponId: heldByA.couponId,
    },
    { name: 'campaign not loaded', state: undefined, userUuid: userA, couponId: heldByA.couponId },
  ];
  for (const testCase of rollbackCases) {
    it(`rollback: ${testCase.name}`, async () => {
      const campaignId = await seed(testCase.state);
      const expected = decideRollback(testCase.state, testCase.userUuid, testCase.couponId);
      assert.equal(await store.rollback(campaignId, testCase.userUuid, testCase.couponId), expected);
      const stock = await store.readStock(campaignId);
      const pending = await redis.zscore(campaignKeys(campaignId).pending, testCase.userUuid);
      if (expected === 'ROLLED_BACK') {
        assert.equal(stock?.remaining, 11);
        assert.equal(await holderOf(campaignId, testCase.userUuid), undefined);
        assert.equal(pending, null);
      } else {
        assert.equal(stock?.remaining, testCase.state === undefined ? undefined : 10);
        assert.deepEqual(
          await holderOf(campaignId, testCase.userUuid),
          testCase.state?.holders.get(testCase.userUuid),
        );
      }
      // A rollback on a campaign Redis lost must not create a half campaign.
      if (testCase.state === undefined) assert.equal(await redis.exists(campaignKeys(campaignId).meta), 0);
    });
  }

  const handOffCases: Array<{
    name: string;
    state: LiveCampaign | undefined;
    userUuid: string;
    couponId: string;
  }> = [
    {
      name: 'held',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: heldByA.couponId,
    },
    {
      name: 'conflict',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: newCoupon.couponId,
    },
    { name: 'adopted', state: campaign(), userUuid: userB, couponId: newCoupon.couponId },
    { name: 'oversold', state: campaign({ remaining: 0 }), userUuid: userB, couponId: newCoupon.couponId },
    { name: 'not loaded', state: undefined, userUuid: userB, couponId: newCoupon.couponId },
  ];
  for (const testCase of handOffCases) {
    it(`hand-off: ${testCase.name}`, async () => {
      const campaignId = await seed(testCase.state);
      const expected = decideHandOff(testCase.state, testCase.userUuid, testCase.couponId);
      const coupon = { couponId: testCase.couponId, code: 'KAFK-AAAA-0001', issuedAtMs: nowMs };
      assert.equal(await store.handOff(campaignId, testCase.userUuid, coupon), expected);
      const held = await holderOf(campaignId, testCase.userUuid);
      const remaining = (await store.readStock(campaignId))?.remaining;
      switch (expected) {
        case 'HELD':
          assert.deepEqual(held, { ...heldByA, handedOff: true });
          assert.equal(remaining, 10);
          break;
        case 'CONFLICT':
          assert.deepEqual(held, heldByA);
          break;
        case 'ADOPTED':
        case 'OVERSOLD':
          assert.deepEqual(held, { ...coupon, handedOff: true });
          assert.equal(remaining, expected === 'ADOPTED' ? 9 : -1);
          break;
        case 'NOT_LOADED':
          assert.equal(held, undefined);
          assert.equal(await redis.exists(campaignKeys(campaignId).meta), 0);
          break;
      }
    });
  }
  const ackCases: Array<{
    name: string;
    state: LiveCampaign | undefined;
    userUuid: string;
    couponId: string;
    unconfirmed?: string;
  }> = [
    {
      name: 'holder of that coupon, its send not acked before',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: heldByA.couponId,
    },
    {
      name: 'holder of that coupon, answered 503 for it in doubt',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: heldByA.couponId,
      unconfirmed: heldByA.couponId,
    },
    {
      name: 'holder of that coupon, already seen in Kafka',
      state: campaign({ holders: new Map([[userA, { ...heldByA, handedOff: true }]]) }),
      userUuid: userA,
      couponId: heldByA.couponId,
    },
    {
      name: 'holder of another coupon',
      state: campaign({ holders: new Map([[userA, heldByA]]) }),
      userUuid: userA,
      couponId: newCoupon.couponId,
      unconfirmed: heldByA.couponId,
    },
    { name: 'no holder (rolled back)', state: campaign(), userUuid: userA, couponId: heldByA.couponId },
    { name: 'campaign not loaded', state: undefined, userUuid: userA, couponId: heldByA.couponId },
  ];
  for (const testCase of ackCases) {
    it(`ack: ${testCase.name}`, async () => {
      const campaignId = await seed(testCase.state);
      const keys = campaignKeys(campaignId);
      if (testCase.unconfirmed !== undefined)
        await redis.hset(keys.unconfirmed, testCase.userUuid, testCase.unconfirmed);
      const expected = decideAck(testCase.state, testCase.userUuid, testCase.couponId);
      assert.equal(await store.markAcked(campaignId, testCase.userUuid, testCase.couponId), expected);
      const before = testCase.state?.holders.get(testCase.userUuid);
      const held = await holderOf(campaignId, testCase.userUuid);
      assert.deepEqual(held, expected === 'ACKED' ? { ...before, handedOff: true } : before);
      // Nothing else moves: the stock stays, and an ack never creates a holder or a campaign.
      assert.equal(
        (await store.readStock(campaignId))?.remaining,
        testCase.state === undefined ? undefined : 10,
      );
      // The acked coupon is no longer unconfirmed; another coupon's mark is left alone.
      const unconfirmed = await redis.hget(keys.unconfirmed, testCase.userUuid);
      assert.equal(
        unconfirmed,
        testCase.unconfirmed === testCase.couponId ? null : (testCase.unconfirmed ?? null),
      );
    });
  }
});
