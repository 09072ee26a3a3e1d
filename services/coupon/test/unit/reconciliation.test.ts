import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '@nuri/platform/errors';
import {
  type CampaignReconciliation,
  judgeCampaign,
  type LiveSnapshot,
  type ReconciliationDeps,
  reconcileCoupons,
} from '../../src/domain/reconciliation.ts';

function counts(overrides: Partial<CampaignReconciliation>): CampaignReconciliation {
  return {
    campaignId: 'c',
    quantity: 10,
    issuedInRedis: 0,
    recordedInCore: 0,
    pending: 0,
    pendingOverdue: 0,
    ...overrides,
  };
}

describe('judging one campaign', () => {
  const cases: Array<{
    name: string;
    counts: Partial<CampaignReconciliation>;
    expected: string | undefined;
  }> = [
    { name: 'when nothing was issued, then it agrees', counts: {}, expected: undefined },
    {
      name: 'when every issued coupon is recorded, then it agrees',
      counts: { issuedInRedis: 10, recordedInCore: 10 },
      expected: undefined,
    },
    {
      name: 'when the gap is exactly the young pending coupons, then they are in flight',
      counts: { issuedInRedis: 7, recordedInCore: 4, pending: 3 },
      expected: undefined,
    },
    {
      name: 'when pending also holds recorded coupons whose coupon.recorded is on its way back, then it agrees',
      counts: { issuedInRedis: 7, recordedInCore: 6, pending: 3 },
      expected: undefined,
    },
    {
      name: 'when old pending coupons are recorded already (only the echo was lost), then it agrees',
      counts: { issuedInRedis: 5, recordedInCore: 5, pending: 2, pendingOverdue: 2 },
      expected: undefined,
    },
    {
      name: 'when the gap needs pending coupons older than the grace period, then it is a mismatch',
      counts: { issuedInRedis: 7, recordedInCore: 4, pending: 3, pendingOverdue: 1 },
      expected: 'ISSUED_BUT_NOT_RECORDED',
    },
    {
      name: 'when issued coupons are missing from the core with nothing pending, then it is a mismatch',
      counts: { issuedInRedis: 3, recordedInCore: 2 },
      expected: 'ISSUED_BUT_NOT_RECORDED',
    },
    {
      name: 'when the core recorded more than Redis issued, then it is a mismatch',
      counts: { issuedInRedis: 2, recordedInCore: 3 },
      expected: 'RECORDED_BUT_NOT_ISSUED',
    },
    {
      name: 'when more than the quantity was issued, then it is a mismatch even if the core agrees',
      counts: { issuedInRedis: 11, recordedInCore: 11 },
      expected: 'OVER_ISSUED',
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      assert.equal(judgeCampaign(counts(testCase.counts)), testCase.expected);
    });
  }
});

describe('reconciling the newest campaigns', () => {
  const nowMs = 1_000_000;
  const graceMs = 30_000;

  function fakeDeps(
    campaigns: Array<{ campaignId: string; quantity: number; recorded: number; live?: LiveSnapshot }>,
  ) {
    const cutoffs: number[] = [];
    const calls: string[] = [];
    const deps: ReconciliationDeps = {
      campaigns: {
        listNewest: async (limit) => {
          assert.equal(limit, 1_000);
          return campaigns.map(({ campaignId, quantity }) => ({ campaignId, quantity }));
        },
      },
      live: {
        nowMs: async () => nowMs,
        snapshot: async (campaignId, cutoffMs) => {
          calls.push(`redis:${campaignId}`);
          cutoffs.push(cutoffMs);
          return campaigns.find((c) => c.campaignId === campaignId)?.live;
        },
      },
      core: {
        countRecorded: async (campaignId) => {
          calls.push(`core:${campaignId}`);
          return campaigns.find((c) => c.campaignId === campaignId)!.recorded;
        },
      },
      logger: { warn: () => {} },
      graceMs,
    };
    return { deps, cutoffs, calls };
  }

  it('when one campaign agrees and one lost a coupon, then only the second is a mismatch and ok is false', async () => {
    const { deps, cutoffs, calls } = fakeDeps([
      { campaignId: 'a', quantity: 5, recorded: 4, live: { issued: 5, pending: 1, pendingOverdue: 0 } },
      { campaignId: 'b', quantity: 5, recorded: 1, live: { issued: 2, pending: 0, pendingOverdue: 0 } },
    ]);

    const report = await reconcileCoupons(deps);

    assert.equal(report.ok, false);
    assert.deepEqual(report.checkedAt, new Date(nowMs));
    assert.deepEqual(
      report.campaigns.map((c) => [c.campaignId, c.issuedInRedis, c.recordedInCore, c.pending]),
      [
        ['a', 5, 4, 1],
        ['b', 2, 1, 0],
      ],
    );
    assert.deepEqual(
      report.mismatches.map((m) => [m.campaignId, m.reason]),
      [['b', 'ISSUED_BUT_NOT_RECORDED']],
    );
    assert.deepEqual(cutoffs, [nowMs - graceMs, nowMs - graceMs]);
    assert.ok(calls.indexOf('core:a') < calls.indexOf('redis:a'), 'the core is read before Redis');
  });

  it('when a campaign has no live state in Redis, then it is listed as not loaded and not compared', async () => {
    const { deps } = fakeDeps([{ campaignId: 'gone', quantity: 5, recorded: 3 }]);

    const report = await reconcileCoupons(deps);

    assert.equal(report.ok, true);
    assert.deepEqual(report.campaigns, []);
    assert.deepEqual(report.notLoaded, ['gone']);
  });

  it('when the core cannot be asked, then 503 CORE_UNAVAILABLE rather than a report that guesses', async () => {
    const { deps } = fakeDeps([{ campaignId: 'a', quantity: 5, recorded: 0 }]);
    deps.core.countRecorded = async () => {
      throw new Error('connect ECONNREFUSED');
    };

    await assert.rejects(
      reconcileCoupons(deps),
      (error: unknown) =>
        error instanceof AppError && error.code === 'CORE_UNAVAILABLE' && error.status === 503,
    );
  });
});
