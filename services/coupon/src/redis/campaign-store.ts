import type { Redis } from '@nuri/platform/redis';
import type {
  AckDecision,
  HandOffDecision,
  HeldCoupon,
  IssueDecision,
  RollbackDecision,
} from '../domain/issue-decision.ts';
import type { LiveSnapshot } from '../domain/reconciliation.ts';
import {
  ackScript,
  handOffScript,
  issueScript,
  loadScript,
  rollbackScript,
  unlockScript,
} from './scripts.ts';

/** The Redis keys of one campaign; the `{campaignId}` hash tag puts them all in one Cluster slot. */
export function campaignKeys(campaignId: string) {
  const prefix = `coupon:{${campaignId}}`;
  return {
    meta: `${prefix}:meta`,
    holders: `${prefix}:holders`,
    pending: `${prefix}:pending`,
    unconfirmed: `${prefix}:unconfirmed`,
    rebuildLock: `${prefix}:rebuild-lock`,
  };
}

/** A user's recently issued coupons (campaignId → coupon), so a list right after a 201 shows it. */
export function recentKey(userUuid: string): string {
  return `coupon:user:{${userUuid}}:recent`;
}

// MySQL keeps every coupon for good (the mirror consumer lags by well under a
// second); the recent index only has to bridge that lag.
const recentTtlSeconds = 86_400;
// Bounds one HSET/ZADD during a rebuild so a 10-million-coupon campaign does
// not block Redis with one giant command.
const rebuildChunkSizeMax = 1_000;

export interface LiveStock {
  quantity: number;
  /** Below zero only after coupons that Kafka had were adopted with no stock left (see handOffScript). */
  remaining: number;
}

export interface HolderToRestore {
  userUuid: string;
  coupon: HeldCoupon;
  recorded: boolean;
}

type ScriptCall = (...keysAndArgs: Array<string | number>) => Promise<unknown>;

/**
 * ioredis `defineCommand` sends EVALSHA and, on NOSCRIPT (Redis restarted or
 * SCRIPT FLUSH), re-sends the call as EVAL on that connection, so a flushed
 * script cache fails no request. Its re-send can still meet NOSCRIPT when
 * pipelined calls race a second flush (one resend loads the script with EVAL,
 * another's EVALSHA lands after the next flush); then the call goes as a plain
 * EVAL, which cannot miss. A script that met NOSCRIPT did not run, so sending
 * it again is safe.
 */
function defineScript(redis: Redis, name: string, lua: string, numberOfKeys: number): ScriptCall {
  redis.defineCommand(name, { lua, numberOfKeys });
  const command = (redis as unknown as Record<string, ScriptCall>)[name];
  if (command === undefined) throw new Error(`script ${name} was not defined`);
  return async (...keysAndArgs) => {
    try {
      return await command.apply(redis, keysAndArgs);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return redis.eval(lua, numberOfKeys, ...keysAndArgs);
    }
  };
}

export type CampaignStore = ReturnType<typeof createCampaignStore>;

export function createCampaignStore(redis: Redis) {
  const scripts = {
    issue: defineScript(redis, 'couponIssue', issueScript, 4),
    rollback: defineScript(redis, 'couponRollback', rollbackScript, 3),
    ack: defineScript(redis, 'couponAck', ackScript, 3),
    handOff: defineScript(redis, 'couponHandOff', handOffScript, 3),
    load: defineScript(redis, 'couponLoad', loadScript, 1),
    unlock: defineScript(redis, 'couponUnlock', unlockScript, 1),
  };

  function raceKeys(campaignId: string): [string, string, string] {
    const keys = campaignKeys(campaignId);
    return [keys.meta, keys.holders, keys.pending];
  }

  return {
    /** One script call: every check, then stock − 1 and the holder recorded, or nothing. */
    async issue(
      campaignId: string,
      attempt: { userUuid: string; couponId: string; code: string; nowMs?: number },
    ): Promise<IssueDecision> {
      const reply = (await scripts.issue(
        ...raceKeys(campaignId),
        campaignKeys(campaignId).unconfirmed,
        attempt.userUuid,
        attempt.couponId,
        attempt.code,
        attempt.nowMs === undefined ? '' : String(attempt.nowMs),
      )) as [string, ...Array<string | number>];
      return parseIssueReply(reply, attempt);
    },

    /** The coupon's hand-off failed with its fate unknown: its user was answered 503, not 201. */
    async markUnconfirmed(campaignId: string, userUuid: string, couponId: string): Promise<void> {
      await redis.hset(campaignKeys(campaignId).unconfirmed, userUuid, couponId);
    },

    /** The broker acked the coupon's send: it is in Kafka, and no longer unconfirmed. */
    async markAcked(campaignId: string, userUuid: string, couponId: string): Promise<AckDecision> {
      const keys = campaignKeys(campaignId);
      return (await scripts.ack(
        keys.meta,
        keys.holders,
        keys.unconfirmed,
        userUuid,
        couponId,
      )) as AckDecision;
    },

    async rollback(campaignId: string, userUuid: string, couponId: string): Promise<RollbackDecision> {
      return (await scripts.rollback(...raceKeys(campaignId), userUuid, couponId)) as RollbackDecision;
    },

    async handOff(
      campaignId: string,
      userUuid: string,
      coupon: { couponId: string; code: string; issuedAtMs: number },
    ): Promise<HandOffDecision> {
      return (await scripts.handOff(
        ...raceKeys(campaignId),
        userUuid,
        coupon.couponId,
        coupon.code,
        String(coupon.issuedAtMs),
      )) as HandOffDecision;
    },

    /** Writes the campaign's meta unless it exists; returns whether this call made it live. */
    async load(
      campaignId: string,
      state: { quantity: number; remaining: number; startsAtMs: number | null; endsAtMs: number | null },
    ): Promise<boolean> {
      const loaded = await scripts.load(
        campaignKeys(campaignId).meta,
        state.quantity,
        state.remaining,
        state.startsAtMs ?? '',
        state.endsAtMs ?? '',
      );
      return loaded === 1;
    },

    async readStock(campaignId: string): Promise<LiveStock | undefined> {
      const [quantity, remaining] = await redis.hmget(campaignKeys(campaignId).meta, 'quantity', 'remaining');
      if (quantity === null || remaining === null) return undefined;
      return { quantity: Number(quantity), remaining: Number(remaining) };
    },

    /** Adds holders (and pending entries for the unrecorded) ahead of `load`, in bounded chunks. */
    async restoreHolders(campaignId: string, holders: readonly HolderToRestore[]): Promise<void> {
      const keys = campaignKeys(campaignId);
      for (let start = 0; start < holders.length; start += rebuildChunkSizeMax) {
        const chunk = holders.slice(start, start + rebuildChunkSizeMax);
        const pipeline = redis.pipeline();
        pipeline.hset(keys.holders, Object.fromEntries(chunk.map((h) => [h.userUuid, formatHeld(h.coupon)])));
        const pending = chunk.filter((h) => !h.recorded).flatMap((h) => [h.coupon.issuedAtMs, h.userUuid]);
        if (pending.length > 0) pipeline.zadd(keys.pending, ...pending);
        await execPipeline(pipeline);
      }
    },

    holderCount(campaignId: string): Promise<number> {
      return redis.hlen(campaignKeys(campaignId).holders);
    },

    /** coupon.recorded came back: nothing left to re-send for these holders. */
    async markRecorded(entries: ReadonlyArray<{ campaignId: string; userUuid: string }>): Promise<void> {
      if (entries.length === 0) return;
      const pipeline = redis.pipeline();
      for (const entry of entries) pipeline.zrem(campaignKeys(entry.campaignId).pending, entry.userUuid);
      await execPipeline(pipeline);
    },

    /** Holders issued at or before `issuedAtMsMax` and not yet recorded, oldest first. */
    pendingSince(
      campaignId: string,
      issuedAtMsMax: number,
      offset: number,
      count: number,
    ): Promise<string[]> {
      return redis.zrangebyscore(
        campaignKeys(campaignId).pending,
        '-inf',
        issuedAtMsMax,
        'LIMIT',
        offset,
        count,
      );
    },

    async holdersOf(campaignId: string, userUuids: readonly string[]): Promise<Map<string, HeldCoupon>> {
      const held = new Map<string, HeldCoupon>();
      if (userUuids.length === 0) return held;
      const values = await redis.hmget(campaignKeys(campaignId).holders, ...userUuids);
      values.forEach((value, index) => {
        if (value !== null) held.set(userUuids[index]!, parseHeld(value));
      });
      return held;
    },

    async rememberRecent(userUuid: string, campaignId: string, coupon: HeldCoupon): Promise<void> {
      const key = recentKey(userUuid);
      // Two commands rather than a pipeline of its own: on the request
      // connection they join the auto-pipeline, so they leave in the same
      // write as the rest of this event-loop turn's commands (a pipeline of
      // their own was one more socket write per coupon), still in order.
      await Promise.all([
        redis.hset(key, campaignId, formatHeld(coupon)),
        redis.expire(key, recentTtlSeconds),
      ]);
    },

    async recentOf(userUuid: string): Promise<Array<{ campaignId: string; coupon: HeldCoupon }>> {
      const entries = await redis.hgetall(recentKey(userUuid));
      return Object.entries(entries).map(([campaignId, value]) => ({ campaignId, coupon: parseHeld(value) }));
    },

    /**
     * The counters reconciliation compares, in one MULTI so that issued and
     * pending belong together; undefined when the campaign is not loaded.
     */
    async snapshot(campaignId: string, overdueCutoffMs: number): Promise<LiveSnapshot | undefined> {
      const keys = campaignKeys(campaignId);
      const results = await redis
        .multi()
        .hmget(keys.meta, 'quantity', 'remaining')
        .zcard(keys.pending)
        .zcount(keys.pending, '-inf', overdueCutoffMs)
        .exec();
      if (results === null) throw new Error('reconciliation snapshot transaction was aborted');
      const failure = results.find(([error]) => error !== null);
      if (failure !== undefined) throw failure[0];
      const [quantity, remaining] = results[0]![1] as [string | null, string | null];
      if (quantity === null || remaining === null) return undefined;
      return {
        issued: Number(quantity) - Number(remaining),
        pending: Number(results[1]![1]),
        pendingOverdue: Number(results[2]![1]),
      };
    },

    /** The server's clock, the one the issue script compares campaign windows with. */
    async nowMs(): Promise<number> {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
    },

    /** One rebuilder per campaign across instances; the TTL frees the lock if its holder dies. */
    async lockRebuild(campaignId: string, token: string, ttlMs: number): Promise<boolean> {
      return (await redis.set(campaignKeys(campaignId).rebuildLock, token, 'PX', ttlMs, 'NX')) === 'OK';
    },

    async unlockRebuild(campaignId: string, token: string): Promise<void> {
      await scripts.unlock(campaignKeys(campaignId).rebuildLock, token);
    },
  };
}

async function execPipeline(pipeline: ReturnType<Redis['pipeline']>): Promise<void> {
  const results = (await pipeline.exec()) ?? [];
  const failure = results.find(([error]) => error !== null);
  if (failure !== undefined) throw failure[0];
}

export function formatHeld(coupon: HeldCoupon): string {
  return `${coupon.couponId}|${coupon.code}|${coupon.issuedAtMs}|${coupon.handedOff ? 'K' : 'L'}`;
}

export function parseHeld(value: string): HeldCoupon {
  const [couponId, code, issuedAtMs, mark] = value.split('|');
  if (couponId === undefined || code === undefined || issuedAtMs === undefined) {
    throw new Error(`malformed holder value in Redis: ${value.slice(0, 80)}`);
  }
  return { couponId, code, issuedAtMs: Number(issuedAtMs), handedOff: mark === 'K' };
}

function parseIssueReply(
  reply: [string, ...Array<string | number>],
  attempt: { couponId: string; code: string },
): IssueDecision {
  const [outcome, first, second, third] = reply;
  switch (outcome) {
    case 'ISSUED':
      return {
        outcome,
        remaining: Number(first),
        coupon: {
          couponId: attempt.couponId,
          code: attempt.code,
          issuedAtMs: Number(second),
          handedOff: false,
        },
      };
    case 'ALREADY_ISSUED': {
      const held = parseHeld(String(first));
      return { outcome, held, unconfirmed: second === held.couponId, recorded: third === 1 };
    }
    case 'SOLD_OUT':
    case 'NOT_ACTIVE':
    case 'NOT_LOADED':
      return { outcome };
    default:
      throw new Error(`unexpected issue script reply ${String(outcome)}`);
  }
}
