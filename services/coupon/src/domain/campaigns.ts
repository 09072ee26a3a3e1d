import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@nuri/platform/errors';
import { type AckDecision, answerHolder, type HeldCoupon, type IssueDecision } from './issue-decision.ts';

/** A campaign as defined by an admin; immutable once created. */
export interface CampaignDefinition {
  campaignId: string;
  name: string;
  quantity: number;
  startsAt: Date | null;
  endsAt: Date | null;
}

export interface IssuedCoupon {
  couponId: string;
  campaignId: string;
  userUuid: string;
  code: string;
  issuedAt: Date;
}

export interface CampaignView extends CampaignDefinition {
  remaining: number;
  issued: number;
}

export const quantityMax = 10_000_000;
/** A campaign's start and end, in UTC: from 2000 to the last moment MariaDB's datetime(3) holds. */
const campaignTimeMinMs = Date.UTC(2000, 0, 1);
const campaignTimeMaxMs = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const nameLengthMax = 100;
/** GET /api/v1/admin/coupon-campaigns lists at most this many (each costs a Redis read). */
export const campaignsListedMax = 100;
/** GET /api/v1/coupons has no pagination in the contract; one user past this many coupons is not a real case. */
export const couponsPerUserListedMax = 1_000;
/**
 * How long a repeated issue waits for the outcome of the user's coupon send
 * still in flight (answerHolder: SENDING) before it answers 503. An ack takes
 * milliseconds, so a double click is answered 409 with the coupon; a send
 * behind a slow broker may take far longer (config.ts longestSendMs), and
 * the client asks again rather than hold a request open that long.
 */
export const sendingWaitMaxMs = 2_000;
// An ack is usually a few milliseconds away: polls start quick and back off,
// so a repeat that waits the whole time costs about a dozen script runs.
const sendingPollFirstMs = 5;
const sendingPollMaxMs = 250;

// Ports the use cases need; redis/, db/, events/ and clients/ implement them.

export interface CampaignDefinitions {
  insert(campaign: CampaignDefinition): Promise<void>;
  find(campaignId: string): Promise<CampaignDefinition | undefined>;
  /** The newest first. */
  listLatest(limit: number): Promise<CampaignDefinition[]>;
}

export interface LiveCampaigns {
  issue(
    campaignId: string,
    attempt: { userUuid: string; couponId: string; code: string },
  ): Promise<IssueDecision>;
  rollback(campaignId: string, userUuid: string, couponId: string): Promise<string>;
  markUnconfirmed(campaignId: string, userUuid: string, couponId: string): Promise<void>;
  markAcked(campaignId: string, userUuid: string, couponId: string): Promise<AckDecision>;
  load(
    campaignId: string,
    state: { quantity: number; remaining: number; startsAtMs: number | null; endsAtMs: number | null },
  ): Promise<boolean>;
  readStock(campaignId: string): Promise<{ quantity: number; remaining: number } | undefined>;
  rememberRecent(userUuid: string, campaignId: string, coupon: HeldCoupon): Promise<void>;
  recentOf(userUuid: string): Promise<Array<{ campaignId: string; coupon: HeldCoupon }>>;
}

export interface CouponHandOff {
  /**
   * Resolves once the broker acked coupon.issued (acks=all). Rejects with an
   * error whose `mayHaveBeenSent` is false only when the event surely never
   * reached a broker (events/hand-off.ts).
   */
  handOff(coupon: IssuedCoupon, correlationId: string): Promise<void>;
}

export interface MirroredCoupons {
  listByUser(userUuid: string, limit: number): Promise<IssuedCoupon[]>;
}

export interface Rebuilder {
  /** Resolves once the campaign's live state exists again; throws 503 if that takes too long. */
  ensureLoaded(campaign: CampaignDefinition): Promise<void>;
}

export interface CouponCounters {
  issued(): void;
  soldOut(): void;
  duplicate(): void;
  rollback(): void;
  stock(campaignId: string, remaining: number): void;
}

export interface Logger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface CampaignServiceDeps {
  definitions: CampaignDefinitions;
  live: LiveCampaigns;
  handOff: CouponHandOff;
  mirrored: MirroredCoupons;
  rebuilder: Rebuilder;
  counters: CouponCounters;
  logger: Logger;
  newId: () => string;
  newCode: () => string;
}

function viewOf(
  definition: CampaignDefinition,
  stock: { quantity: number; remaining: number },
): CampaignView {
  return {
    ...definition,
    // Below zero only if coupons Kafka already had were adopted with no stock left; issued says so.
    remaining: Math.max(0, stock.remaining),
    issued: stock.quantity - stock.remaining,
  };
}

export const campaignNotFound = () => new AppError('CAMPAIGN_NOT_FOUND', 404, 'No such coupon campaign');
const couponUnavailable = () =>
  new AppError('COUPON_UNAVAILABLE', 503, 'No coupon was issued; the request is safe to retry');
// Not "nothing was issued": the coupon may be in Kafka. Retrying is still
// safe, and is answered with this very coupon once it is confirmed.
const couponUnconfirmed = () =>
  new AppError(
    'COUPON_UNAVAILABLE',
    503,
    'Your coupon could not be confirmed yet; retry the request to receive it (no second coupon is issued)',
  );
// Not "already issued": the send may yet fail for sure and the coupon be
// taken back. Not "nothing was issued" either: it may yet be acked.
const couponSending = () =>
  new AppError(
    'COUPON_UNAVAILABLE',
    503,
    'Your coupon of this campaign is still being sent; retry the request to learn whether you hold it (no second coupon is issued)',
  );
const alreadyIssued = (held: HeldCoupon) =>
  new AppError('ALREADY_ISSUED', 409, 'This user already holds a coupon of this campaign', {
    couponId: held.couponId,
  });

function mayHaveBeenSent(error: unknown): boolean {
  return (error as { mayHaveBeenSent?: unknown }).mayHaveBeenSent !== false;
}

// Campaign ids go into Redis keys between hash-tag braces: anything but a UUID
// is refused before it gets there.
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const definitionsCachedMax = 10_000;

export function createCampaignService(deps: CampaignServiceDeps) {
  const { live, counters } = deps;
  // Definitions never change after creation, so a hit never goes stale.
  const definitionCache = new Map<string, CampaignDefinition>();

  async function findDefinition(campaignId: string): Promise<CampaignDefinition | undefined> {
    if (!uuidPattern.test(campaignId)) return undefined;
    const cached = definitionCache.get(campaignId);
    if (cached !== undefined) return cached;
    const found = await deps.definitions.find(campaignId);
    if (found === undefined) return undefined;
    if (definitionCache.size >= definitionsCachedMax) definitionCache.clear();
    definitionCache.set(campaignId, found);
    return found;
  }

  /**
   * Runs `attempt` on the live state; a campaign Redis lost is rebuilt first,
   * an unknown one is 404. Redis unreachable is 503: the script either did not
   * run, or won and left a pending coupon that the recovery job hands off.
   */
  async function withLiveCampaign<T>(
    campaignId: string,
    attempt: () => Promise<T | 'NOT_LOADED'>,
  ): Promise<T> {
    if (!uuidPattern.test(campaignId)) throw campaignNotFound();
    const guarded = async () => {
      try {
        return await attempt();
      } catch (error) {
        deps.logger.warn({ err: error, campaignId }, 'live campaign state unreachable');
        throw couponUnavailable();
      }
    };
    const first = await guarded();
    if (first !== 'NOT_LOADED') return first;
    const definition = await findDefinition(campaignId);
    if (definition === undefined) throw campaignNotFound();
    await deps.rebuilder.ensureLoaded(definition);
    const second = await guarded();
    if (second === 'NOT_LOADED') throw couponUnavailable();
    return second;
  }

  /** The live stock; a campaign Redis lost is rebuilt first. */
  function readStock(campaignId: string): Promise<{ quantity: number; remaining: number }> {
    return withLiveCampaign(campaignId, async () => (await live.readStock(campaignId)) ?? 'NOT_LOADED');
  }

  async function handOffOrRollback(coupon: IssuedCoupon, correlationId: string): Promise<void> {
    try {
      await deps.handOff.handOff(coupon, correlationId);
      return;
    } catch (error) {
      if (mayHaveBeenSent(error)) {
        // Kafka may hold it (a timeout after sending): taking it back could
        // leave a coupon the core records but nobody holds, and tell the user
        // a lie. It stays theirs; their retry gets it (issueCoupon), and the
        // recovery job re-sends it if the core never records it.
        await live
          .markUnconfirmed(coupon.campaignId, coupon.userUuid, coupon.couponId)
          .catch((markError: unknown) =>
            deps.logger.error(
              { err: markError, campaignId: coupon.campaignId, couponId: coupon.couponId },
              'could not mark a coupon whose hand-off is in doubt; retries get 503 until the mirror or recovery settles it',
            ),
          );
        deps.logger.warn(
          { err: error, campaignId: coupon.campaignId, couponId: coupon.couponId },
          'coupon hand-off in doubt; kept for the user and for recovery',
        );
        throw couponUnconfirmed();
      }
      const outcome = await live
        .rollback(coupon.campaignId, coupon.userUuid, coupon.couponId)
        .catch((rollbackError: unknown) => {
          // The win stays in Redis as pending; the recovery job hands it off later, so nothing is over-issued.
          deps.logger.error(
            { err: rollbackError, campaignId: coupon.campaignId, couponId: coupon.couponId },
            'rollback after a failed hand-off failed; the coupon stays pending',
          );
          return 'FAILED';
        });
      // Kafka had it after all (the mirror saw it before the failure was reported): the promise holds.
      if (outcome === 'HANDED_OFF') return;
      if (outcome === 'ROLLED_BACK') counters.rollback();
      deps.logger.warn(
        { err: error, campaignId: coupon.campaignId, couponId: coupon.couponId, rollback: outcome },
        'coupon hand-off failed; the win was rolled back',
      );
      throw couponUnavailable();
    }
  }

  /**
   * The retry of a user whose coupon's hand-off was in doubt: the same coupon
   * is sent again (same id and code; the core records it once) unless Kafka
   * is known to have it, and once acked it is this request's 201.
   */
  async function confirm(
    campaignId: string,
    userUuid: string,
    held: HeldCoupon,
    correlationId: string,
  ): Promise<IssuedCoupon> {
    const coupon: IssuedCoupon = {
      couponId: held.couponId,
      campaignId,
      userUuid,
      code: held.code,
      issuedAt: new Date(held.issuedAtMs),
    };
    if (!held.handedOff) {
      try {
        await deps.handOff.handOff(coupon, correlationId);
      } catch (error) {
        deps.logger.warn(
          { err: error, campaignId, couponId: held.couponId },
          'confirming a coupon in doubt failed',
        );
        throw couponUnconfirmed();
      }
    }
    await live
      .markAcked(campaignId, userUuid, held.couponId)
      .catch((error: unknown) =>
        deps.logger.warn(
          { err: error, campaignId },
          'could not clear a confirmed coupon; its next retry confirms it again',
        ),
      );
    counters.issued();
    return coupon;
  }

  /** One run of the issue script; a campaign Redis lost is rebuilt first. */
  function decide(
    campaignId: string,
    attempt: { userUuid: string; couponId: string; code: string },
  ): Promise<Exclude<IssueDecision, { outcome: 'NOT_LOADED' }>> {
    return withLiveCampaign(campaignId, async () => {
      const reply = await live.issue(campaignId, attempt);
      return reply.outcome === 'NOT_LOADED' ? 'NOT_LOADED' : reply;
    });
  }

  /** The script's win, made a promise by Kafka's ack (or rolled back: 503). */
  async function handOffWin(
    campaignId: string,
    userUuid: string,
    win: { coupon: HeldCoupon; remaining: number },
    correlationId: string,
  ): Promise<IssuedCoupon> {
    const { couponId, code } = win.coupon;
    const coupon: IssuedCoupon = {
      couponId,
      campaignId,
      userUuid,
      code,
      issuedAt: new Date(win.coupon.issuedAtMs),
    };
    await handOffOrRollback(coupon, correlationId);
    counters.issued();
    counters.stock(campaignId, win.remaining);
    // Neither is awaited: the 201 does not depend on them, and this
    // connection's commands leave in the order they were issued (one
    // auto-pipeline queue), so this instance's next request already sees
    // them. A repeat on another instance that runs first waits for the mark
    // (SENDING). If the mark fails, repeats wait for the mirror to read the
    // coupon back and mark it; if the recent index fails, only the
    // read-your-write shortcut is missing until the mirror catches up.
    void live.markAcked(campaignId, userUuid, couponId).catch((error: unknown) => {
      deps.logger.warn({ err: error, campaignId, couponId }, 'acked coupon not marked; the mirror marks it');
    });
    void live.rememberRecent(userUuid, campaignId, win.coupon).catch((error: unknown) => {
      deps.logger.warn({ err: error, campaignId, couponId }, 'recent-coupon index not updated');
    });
    return coupon;
  }

  return {
    async createCampaign(input: {
      name: string;
      quantity: number;
      startsAt: Date | null;
      endsAt: Date | null;
    }): Promise<CampaignView> {
      for (const [field, at] of [
        ['startsAt', input.startsAt],
        ['endsAt', input.endsAt],
      ] as const) {
        // An offset can carry a valid timestamp past what MariaDB's datetime holds (year 9999).
        if (at !== null && (at.getTime() < campaignTimeMinMs || at.getTime() > campaignTimeMaxMs)) {
          throw new AppError(
            'VALIDATION_FAILED',
            400,
            `body/${field} must fall in the years 2000–9999 (UTC)`,
          );
        }
      }
      if (input.startsAt !== null && input.endsAt !== null && input.endsAt <= input.startsAt) {
        throw new AppError('VALIDATION_FAILED', 400, 'body/endsAt must be later than startsAt');
      }
      const campaign: CampaignDefinition = { campaignId: deps.newId(), ...input };
      await deps.definitions.insert(campaign);
      await live.load(campaign.campaignId, {
        quantity: campaign.quantity,
        remaining: campaign.quantity,
        startsAtMs: campaign.startsAt?.getTime() ?? null,
        endsAtMs: campaign.endsAt?.getTime() ?? null,
      });
      counters.stock(campaign.campaignId, campaign.quantity);
      return { ...campaign, remaining: campaign.quantity, issued: 0 };
    },

    async getCampaign(campaignId: string): Promise<CampaignView> {
      const stock = await readStock(campaignId);
      const definition = await findDefinition(campaignId);
      if (definition === undefined) throw campaignNotFound();
      return viewOf(definition, stock);
    },

    /** The newest campaigns with their stock, for the operator console. */
    async listCampaigns(limit: number): Promise<CampaignView[]> {
      const definitions = await deps.definitions.listLatest(Math.min(limit, campaignsListedMax));
      return Promise.all(
        definitions.map(async (definition) => viewOf(definition, await readStock(definition.campaignId))),
      );
    },

    /**
     * The table of contents of the race: one script decides, Kafka's ack makes
     * it a promise. A user whose coupon is still being sent is told nothing
     * about it until its send ends: acked, it is named (409); failed for sure,
     * it was rolled back and this request runs the race afresh.
     */
    async issueCoupon(userUuid: string, campaignId: string, correlationId: string): Promise<IssuedCoupon> {
      const attempt = { userUuid, couponId: deps.newId(), code: deps.newCode() };
      const sendingWaitUntil = performance.now() + sendingWaitMaxMs;
      for (let pollMs = sendingPollFirstMs; ; pollMs = Math.min(pollMs * 2, sendingPollMaxMs)) {
        const decision = await decide(campaignId, attempt);
        switch (decision.outcome) {
          case 'NOT_ACTIVE':
            throw new AppError('CAMPAIGN_NOT_ACTIVE', 409, 'The campaign is not open at this time');
          case 'SOLD_OUT':
            counters.soldOut();
            counters.stock(campaignId, 0);
            throw new AppError('SOLD_OUT', 410, 'Every coupon of this campaign has been issued');
          case 'ISSUED':
            return handOffWin(campaignId, userUuid, decision, correlationId);
          case 'ALREADY_ISSUED': {
            const answer = answerHolder(decision);
            if (answer === 'CONFIRM') return confirm(campaignId, userUuid, decision.held, correlationId);
            if (answer === 'HELD') {
              counters.duplicate();
              throw alreadyIssued(decision.held);
            }
            const leftMs = sendingWaitUntil - performance.now();
            if (leftMs <= 0) throw couponSending();
            await sleep(Math.min(pollMs, leftMs));
          }
        }
      }
    },

    /** The user's coupons: the MySQL mirror, plus the ones too recent to be mirrored yet. */
    async listCoupons(userUuid: string): Promise<IssuedCoupon[]> {
      const [mirrored, recent] = await Promise.all([
        deps.mirrored.listByUser(userUuid, couponsPerUserListedMax),
        // Without Redis the list is the mirror alone: at most the last second's coupons are missing.
        live.recentOf(userUuid).catch((error: unknown) => {
          deps.logger.warn({ err: error }, 'recent-coupon index unreachable; listing the mirror only');
          return [];
        }),
      ]);
      const byId = new Map(mirrored.map((coupon) => [coupon.couponId, coupon]));
      for (const { campaignId, coupon } of recent) {
        if (byId.has(coupon.couponId)) continue;
        byId.set(coupon.couponId, {
          couponId: coupon.couponId,
          campaignId,
          userUuid,
          code: coupon.code,
          issuedAt: new Date(coupon.issuedAtMs),
        });
      }
      return [...byId.values()]
        .sort((a, b) => b.issuedAt.getTime() - a.issuedAt.getTime())
        .slice(0, couponsPerUserListedMax);
    },
  };
}

export type CampaignService = ReturnType<typeof createCampaignService>;
