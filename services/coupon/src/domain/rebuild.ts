import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@nuri/platform/errors';
import type { CampaignDefinition, IssuedCoupon } from './campaigns.ts';
import type { HeldCoupon } from './issue-decision.ts';

// Rebuilding a campaign whose Redis state vanished (a restart without
// persistence, an eviction, an operator's DEL). Nothing may be issued until
// the state is back, and stock already promised must never re-open.
//
// What was promised: every 201 followed a broker ack of coupon.issued, so the
// coupon.issued topic is the complete record of promises. The service mirrors
// that topic into MySQL (events/coupon-events-consumer.ts), and the core
// records the same events. The hard case is a send that was in flight when
// Redis died: its ack may still come. So the rebuild
//   1. takes a per-campaign lock in Redis, so one instance rebuilds (a lease:
//      it expires after timeoutMs, so an instance that dies mid-rebuild does
//      not block the campaign for ever; the others wait for the meta);
//   2. waits `settleMs` (longer than any send can take), so every send that
//      began before the loss has now been acked or has failed;
//   3. waits until the mirror has consumed coupon.issued up to its end, so
//      MySQL holds every acked coupon;
//   4. restores holders (user → coupon) and pending entries from MySQL;
//   5. counts issued = max(holders, the core's recorded count) — the core
//      cannot know more than the topic, but it costs nothing to take the
//      larger — and only then writes the meta that makes the campaign live.
// A win whose send never started (the process died between script and send)
// made no promise: it is not in Kafka, and its stock is available again.

export interface RebuildDeps {
  live: {
    readStock(campaignId: string): Promise<{ quantity: number; remaining: number } | undefined>;
    restoreHolders(
      campaignId: string,
      holders: ReadonlyArray<{ userUuid: string; coupon: HeldCoupon; recorded: boolean }>,
    ): Promise<void>;
    holderCount(campaignId: string): Promise<number>;
    load(
      campaignId: string,
      state: { quantity: number; remaining: number; startsAtMs: number | null; endsAtMs: number | null },
    ): Promise<boolean>;
    lockRebuild(campaignId: string, token: string, ttlMs: number): Promise<boolean>;
    unlockRebuild(campaignId: string, token: string): Promise<void>;
  };
  mirrored: {
    pageByCampaign(
      campaignId: string,
      afterCouponId: string,
      limit: number,
    ): Promise<Array<IssuedCoupon & { recorded: boolean }>>;
  };
  mirror: { waitUntilCaughtUp(timeoutMs: number): Promise<void> };
  core: { countRecorded(campaignId: string): Promise<number> };
  onRebuilt: (campaignId: string, issued: number, remaining: number) => void;
  logger: {
    info(object: object, message: string): void;
    error(object: object, message: string): void;
  };
  newToken: () => string;
  settleMs: number;
  timeoutMs: number;
  /** How long a request waits for a rebuild before it gets 503 (the rebuild goes on). */
  requestWaitMs: number;
}

const pageSizeMax = 1_000;
const lockPollIntervalMs = 100;

export function createRebuilder(deps: RebuildDeps) {
  const running = new Map<string, Promise<void>>();

  async function rebuildLocked(campaign: CampaignDefinition): Promise<void> {
    const { campaignId } = campaign;
    const started = Date.now();
    await sleep(deps.settleMs);
    await deps.mirror.waitUntilCaughtUp(Math.max(0, started + deps.timeoutMs - Date.now()));
    let after = '';
    for (;;) {
      const page = await deps.mirrored.pageByCampaign(campaignId, after, pageSizeMax);
      await deps.live.restoreHolders(
        campaignId,
        page.map((coupon) => ({
          userUuid: coupon.userUuid,
          coupon: {
            couponId: coupon.couponId,
            code: coupon.code,
            issuedAtMs: coupon.issuedAt.getTime(),
            handedOff: true,
          },
          recorded: coupon.recorded,
        })),
      );
      if (page.length < pageSizeMax) break;
      after = page.at(-1)!.couponId;
    }
    const [holders, recorded] = await Promise.all([
      deps.live.holderCount(campaignId),
      deps.core.countRecorded(campaignId),
    ]);
    const issued = Math.max(holders, recorded);
    const remaining = campaign.quantity - issued;
    await deps.live.load(campaignId, {
      quantity: campaign.quantity,
      remaining,
      startsAtMs: campaign.startsAt?.getTime() ?? null,
      endsAtMs: campaign.endsAt?.getTime() ?? null,
    });
    deps.onRebuilt(campaignId, issued, remaining);
    deps.logger.info(
      { campaignId, holders, recorded, issued, remaining, tookMs: Date.now() - started },
      'campaign state rebuilt',
    );
  }

  async function rebuild(campaign: CampaignDefinition): Promise<void> {
    const { campaignId } = campaign;
    const deadline = Date.now() + deps.timeoutMs;
    const token = deps.newToken();
    while (!(await deps.live.lockRebuild(campaignId, token, deps.timeoutMs))) {
      // Another instance is rebuilding; done when the meta appears.
      if ((await deps.live.readStock(campaignId)) !== undefined) return;
      if (Date.now() > deadline) throw new Error(`rebuild of ${campaignId} by another instance timed out`);
      await sleep(lockPollIntervalMs);
    }
    try {
      if ((await deps.live.readStock(campaignId)) !== undefined) return;
      await rebuildLocked(campaign);
    } finally {
      await deps.live.unlockRebuild(campaignId, token);
    }
  }

  return {
    async ensureLoaded(campaign: CampaignDefinition): Promise<void> {
      let pending = running.get(campaign.campaignId);
      if (pending === undefined) {
        pending = rebuild(campaign)
          .catch((error: unknown) => {
            deps.logger.error({ err: error, campaignId: campaign.campaignId }, 'campaign rebuild failed');
            throw error;
          })
          .finally(() => running.delete(campaign.campaignId));
        running.set(campaign.campaignId, pending);
        // Waiters may all have given up by the time it fails; the failure is logged above.
        pending.catch(() => {});
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deps.requestWaitMs);
      });
      try {
        const outcome = await Promise.race([pending.then(() => 'done' as const), timeout]);
        if (outcome === 'timeout') throw unavailable();
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw unavailable();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function unavailable(): AppError {
  return new AppError(
    'COUPON_UNAVAILABLE',
    503,
    'The campaign is being restored; no coupon was issued and the request is safe to retry',
  );
}
