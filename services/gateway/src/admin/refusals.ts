import type { Logger } from '@nuri/platform/logger';
import type { Redis } from '@nuri/platform/redis';
import type { RateDecision, RateLimiter } from '../rate-limit.ts';

// How often each of the gateway's limiters refused (answered 429), across
// every gateway instance, over the last hour (GET /api/v1/admin/rate-limits).
// Each instance counts refusals in memory per minute and adds them to
// per-minute counters in Redis every second, like the limiters themselves do
// (rate-limit.ts): no Redis round trip on the request path. A counter lives
// two hours; a read sums the last 60 minutes (this one included), so the
// window is an hour to within a minute.

export const refusalWindowSeconds = 3600;
const minuteMs = 60_000;
const bucketsPerWindow = refusalWindowSeconds / 60;
const bucketTtlSeconds = refusalWindowSeconds * 2;
const failureLogIntervalMs = 10_000;

export interface RefusalCounter {
  /** Counts one refusal of `limiter` now; never waits. */
  count(limiter: string): void;
  /** Adds the local counts to Redis now (a timer does it on its own). */
  flush(): Promise<void>;
  /** Each limiter's refusals over the last hour, every instance's; rejects when Redis cannot be read. */
  read(limiters: readonly string[]): Promise<Array<{ limiter: string; refusals: number }>>;
  close(): Promise<void>;
}

/** The Redis key of one limiter's minute (hash-tagged by limiter, so one MGET reads an hour in a cluster). */
export function bucketKey(prefix: string, limiter: string, minute: number): string {
  return `${prefix}:{${limiter}}:${minute}`;
}

/** The keys of the last hour's minutes, the current one last. */
export function windowKeys(prefix: string, limiter: string, nowMs: number): string[] {
  const current = Math.floor(nowMs / minuteMs);
  return Array.from({ length: bucketsPerWindow }, (_unused, index) =>
    bucketKey(prefix, limiter, current - bucketsPerWindow + 1 + index),
  );
}

/** The sum of what MGET answered (missing buckets are null). */
export function sumBuckets(values: ReadonlyArray<string | null>): number {
  let total = 0;
  for (const value of values) {
    const count = value === null ? 0 : Number.parseInt(value, 10);
    if (Number.isSafeInteger(count) && count > 0) total += count;
  }
  return total;
}

export function createRefusalCounter(options: {
  redis: Redis;
  logger: Logger;
  /** Prefix of the Redis keys; tests use their own. */
  keyPrefix?: string;
  flushIntervalMs?: number;
  now?: () => number;
}): RefusalCounter {
  const { redis, logger, now = Date.now } = options;
  const prefix = options.keyPrefix ?? 'rl-refusals';
  // "limiter minute" → refusals not yet in Redis. Bounded: a handful of limiters, a few minutes at most.
  let pending = new Map<string, { limiter: string; minute: number; count: number }>();
  let flushing: Promise<void> | undefined;
  let lastFailureLogAt = 0;

  const send = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending = new Map();
    const pipeline = redis.pipeline();
    for (const { limiter, minute, count } of batch) {
      const key = bucketKey(prefix, limiter, minute);
      pipeline.incrby(key, count).expire(key, bucketTtlSeconds);
    }
    try {
      const results = await pipeline.exec();
      if (results === null || results.some(([error]) => error !== null))
        throw new Error('no answer from Redis');
    } catch (error) {
      // Kept for the next flush; counts older than the window are dropped rather than kept forever.
      const oldest = Math.floor(now() / minuteMs) - bucketsPerWindow;
      for (const entry of batch) if (entry.minute > oldest) add(entry.limiter, entry.minute, entry.count);
      if (now() - lastFailureLogAt >= failureLogIntervalMs) {
        lastFailureLogAt = now();
        logger.warn({ err: error }, 'rate-limit refusals could not be added to Redis; kept for later');
      }
    }
  };

  function add(limiter: string, minute: number, count: number): void {
    const slot = `${limiter} ${minute}`;
    const entry = pending.get(slot);
    if (entry === undefined) pending.set(slot, { limiter, minute, count });
    else entry.count += count;
  }

  const flush = (): Promise<void> => {
    flushing ??= send().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 1_000);
  timer.unref();

  return {
    count(limiter) {
      add(limiter, Math.floor(now() / minuteMs), 1);
    },
    flush,
    async read(limiters) {
      await flush();
      const at = now();
      return Promise.all(
        limiters.map(async (limiter) => ({
          limiter,
          refusals: sumBuckets(await redis.mget(...windowKeys(prefix, limiter, at))),
        })),
      );
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** The limiter, with each refusal it decides counted under `name`. */
export function countingRefusals(name: string, limiter: RateLimiter, refusals: RefusalCounter): RateLimiter {
  const seen = (decision: RateDecision): RateDecision => {
    if (decision.limited) refusals.count(name);
    return decision;
  };
  return {
    hit: (ip, userUuid) => seen(limiter.hit(ip, userUuid)),
    hitUser: (userUuid) => seen(limiter.hitUser(userUuid)),
    sync: () => limiter.sync(),
    close: () => limiter.close(),
  };
}
