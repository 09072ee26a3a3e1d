import { createBoundedMap } from '@nuri/platform/bounded-map';
import { clientKey } from '@nuri/platform/client-address';
import type { Logger } from '@nuri/platform/logger';
import type { Redis } from '@nuri/platform/redis';

// Fixed windows per key (an IP, a user), shared by every gateway instance
// through Redis, without a Redis round trip per request: a round trip per
// request was the gateway's largest cost (a socket write and read here and
// a Lua call in Redis, on the same cores as everything else).
//
// Each instance counts its hits per key in memory and decides on
//   estimate = the key's global count as last read from Redis
//            + this instance's hits not yet added to it.
// Every syncIntervalMs a background sync sends each key hit since the last
// sync as one pipelined INCRBY + PEXPIRE and keeps the new global count that
// INCRBY returns. The limit is therefore approximate across instances: an
// instance sees another's hits only once both have synced that key, so a key
// can exceed its limit by up to what the other instances admit within about
// one sync interval. It is never refused early: the estimate never exceeds
// the true count. One instance alone enforces the limit exactly.
//
// Redis unreachable (the last sync failed): each instance keeps enforcing on
// what it knows — the last shared count it read plus every hit it admitted
// since — so the limits still hold per instance (a client spread over N
// instances may get up to N times its limit) rather than switching off; a
// warning at most every 10 s says so. Hits stay counted and reach Redis once
// it is back.

export interface RateLimitOptions {
  redis: Redis;
  logger: Logger;
  ipMax: number;
  userMax: number;
  windowMs: number;
  /** How often local counts are added to the shared ones (the cross-instance slack). */
  syncIntervalMs: number;
  /** Keys counted per window in memory; past it the keys not hit longest are forgotten. */
  keysMax?: number;
  /** Prefix of the Redis keys; tests use their own. */
  keyPrefix?: string;
  now?: () => number;
}

export type RateDecision = { limited: false } | { limited: true; retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts this request against its IP and, when known, its user; decides without waiting on Redis. */
  hit(ip: string, userUuid: string | undefined): RateDecision;
  /** Counts this request against its user alone (its IP was counted before the token was checked). */
  hitUser(userUuid: string): RateDecision;
  /** Adds the local counts to Redis now and reads the global ones back (the timer does this on its own). */
  sync(): Promise<void>;
  /** Stops the background sync. */
  close(): Promise<void>;
}

interface Counter {
  key: string;
  max: number;
  /** The window's count across instances, as Redis last answered. */
  globalCount: number;
  /** Hits sent to Redis by the sync now in flight. */
  sendingCount: number;
  /** Hits since the last sync began. */
  localCount: number;
}

export const rateLimitKeysMax = 100_000;
const failureLogIntervalMs = 10_000;
const notLimited: RateDecision = { limited: false };

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { redis, logger, windowMs, now = Date.now } = options;
  const keysMax = options.keysMax ?? rateLimitKeysMax;
  const keyPrefix = options.keyPrefix ?? 'rl';
  // Keys outlive their window a little so a slow clock elsewhere cannot reset them early.
  const keyTtlMs = windowMs * 2;

  // Only the current window is kept: a new window starts with new maps, so
  // memory is bounded by keysMax counters (and as many waiting for a sync).
  let window = Math.floor(now() / windowMs);
  let counters = createBoundedMap<string, Counter>(keysMax);
  let unsynced = new Set<Counter>();
  let syncing: Promise<void> | undefined;
  let lastSyncFailed = false;
  let lastFailureLogAt = 0;

  const warnUnavailable = (reason: unknown) => {
    if (now() - lastFailureLogAt < failureLogIntervalMs) return;
    lastFailureLogAt = now();
    const cause = typeof reason === 'string' ? { reason } : { err: reason };
    logger.warn(
      { ...cause, redis: redis.status },
      'rate-limit counts cannot be shared; each instance enforces alone',
    );
  };

  const counterOf = (kind: 'ip' | 'user', id: string, max: number): Counter => {
    const name = `${kind}:${id}`;
    let counter = counters.get(name);
    if (counter !== undefined) return counter;
    // Past keysMax (a flood of distinct keys) those not hit longest are
    // forgotten, which only loosens their limits.
    counter = {
      key: `${keyPrefix}:${kind}:{${id}}:${window}`,
      max,
      globalCount: 0,
      sendingCount: 0,
      localCount: 0,
    };
    counters.set(name, counter);
    return counter;
  };

  // Counters waiting for a sync, at most keysMax of them: a forgotten counter
  // may still wait here (its hits reach Redis), and a flood while Redis is
  // away must not grow the set past the bound. A counter left out keeps its
  // hits in localCount and joins when it is hit again with room here.
  const awaitSync = (counter: Counter): void => {
    if (unsynced.size < keysMax) unsynced.add(counter);
  };

  // Every hit counts, a refused one too, so a client that keeps knocking stays refused.
  const count = (counter: Counter): boolean => {
    counter.localCount += 1;
    awaitSync(counter);
    return counter.globalCount + counter.sendingCount + counter.localCount > counter.max;
  };

  const sendCounts = async (): Promise<void> => {
    if (unsynced.size === 0) return;
    const batch = [...unsynced];
    unsynced = new Set();
    const pipeline = redis.pipeline();
    for (const counter of batch) {
      counter.sendingCount = counter.localCount;
      counter.localCount = 0;
      pipeline.incrby(counter.key, counter.sendingCount).pexpire(counter.key, keyTtlMs);
    }
    let results: Array<[Error | null, unknown]> | null = null;
    let failure: unknown = new Error('no answer from Redis');
    try {
      results = await pipeline.exec();
    } catch (error) {
      failure = error;
    }
    batch.forEach((counter, index) => {
      // Each counter's INCRBY answer; its PEXPIRE answer follows it.
      const [error, total] = results?.[index * 2] ?? [failure, null];
      if (error === null && typeof total === 'number') {
        counter.globalCount = total;
        lastSyncFailed = false;
      } else {
        // Kept for the next sync, so the shared count is right once Redis is back.
        counter.localCount += counter.sendingCount;
        awaitSync(counter);
        lastSyncFailed = true;
        warnUnavailable(error);
      }
      counter.sendingCount = 0;
    });
  };

  const sync = (): Promise<void> => {
    // One sync at a time: a slow Redis must not pile up pipelines.
    syncing ??= sendCounts().finally(() => {
      syncing = undefined;
    });
    return syncing;
  };

  const rollWindow = (): number => {
    const at = now();
    const currentWindow = Math.floor(at / windowMs);
    if (currentWindow !== window) {
      window = currentWindow;
      counters = createBoundedMap(keysMax);
      unsynced = new Set();
    }
    return at;
  };

  const decide = (limited: boolean, at: number): RateDecision => {
    if (lastSyncFailed) warnUnavailable('the last sync with Redis failed; limits are kept per instance');
    if (!limited) return notLimited;
    const retryAfterMs = (window + 1) * windowMs - at;
    return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1_000)) };
  };

  const timer = setInterval(() => void sync(), options.syncIntervalMs);
  timer.unref();

  return {
    hit(ip, userUuid) {
      const at = rollWindow();
      // IPv6 clients are counted by their /64 (client-address.ts): one host owns them all.
      let limited = count(counterOf('ip', clientKey(ip), options.ipMax));
      if (userUuid !== undefined) limited = count(counterOf('user', userUuid, options.userMax)) || limited;
      return decide(limited, at);
    },
    hitUser(userUuid) {
      const at = rollWindow();
      return decide(count(counterOf('user', userUuid, options.userMax)), at);
    },
    sync,
    async close() {
      clearInterval(timer);
      await syncing;
    },
  };
}
