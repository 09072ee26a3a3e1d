import type { Logger } from '@nuri/platform/logger';
import type { Redis } from '@nuri/platform/redis';

// Fixed window per key: one INCR, the expiry set by the first hit. Atomic in
// Redis, one key per call, so it works unchanged on a cluster.
const hitScript = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`;

export interface RateLimitOptions {
  redis: Redis;
  logger: Logger;
  ipMax: number;
  userMax: number;
  windowMs: number;
}

export type RateDecision = { limited: false } | { limited: true; retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts this request against its IP and, when known, its user. */
  hit(ip: string, userUuid: string | undefined): Promise<RateDecision>;
}

type HitCommand = (key: string, windowMs: number) => Promise<number>;

const failureLogIntervalMs = 10_000;

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { redis, windowMs } = options;
  redis.defineCommand('nuriRateHit', { numberOfKeys: 1, lua: hitScript });
  const hitCommand = (redis as unknown as { nuriRateHit: HitCommand }).nuriRateHit.bind(redis);
  let lastFailureLogAt = 0;

  return {
    async hit(ip, userUuid) {
      const window = Math.floor(Date.now() / windowMs);
      const keys: Array<[string, number]> = [[`rl:ip:{${ip}}:${window}`, options.ipMax]];
      if (userUuid !== undefined) keys.push([`rl:user:{${userUuid}}:${window}`, options.userMax]);
      try {
        // Keys outlive their window a little so a slow clock elsewhere cannot reset them early.
        const counts = await Promise.all(keys.map(([key]) => hitCommand(key, windowMs * 2)));
        const limited = counts.some((count, index) => count > keys[index]![1]);
        if (!limited) return { limited: false };
        const retryAfterMs = (window + 1) * windowMs - Date.now();
        return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1_000)) };
      } catch (error) {
        // Redis down: serve without limits rather than refuse everyone; say so, but not per request.
        if (Date.now() - lastFailureLogAt > failureLogIntervalMs) {
          lastFailureLogAt = Date.now();
          options.logger.warn({ err: error }, 'rate limiting unavailable; requests pass unlimited');
        }
        return { limited: false };
      }
    },
  };
}
