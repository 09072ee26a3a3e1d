import { createHash } from 'node:crypto';
import { createBoundedMap } from '@nuri/platform/bounded-map';
import type { Logger } from '@nuri/platform/logger';
import type { Redis } from '@nuri/platform/redis';
import type { KeyOwner } from './routing.ts';

// An Idempotency-Key belongs to its user, not to a route (docs/api.md): the
// same key on another route is 422 IDEMPOTENCY_KEY_REUSED. Each service
// enforces that among its own routes (the request's fingerprint includes its
// route), but channel-user and point keep their keys in their own databases,
// so neither sees the other's. The gateway sees both: the first keyed money
// request with a key claims it for its service in Redis, shared by every
// gateway instance, and a later one for the other service is refused here.
//
// The claim is one SET NX GET, auto-pipelined with the other claims in
// flight; a claim once read is remembered by this instance for 10 minutes
// (it cannot change while it lives), so a client's repeat soon after costs no
// round trip. It lives 24 hours, what docs/api.md promises of every key
// (channel-user and point keep theirs 48). Each costs Redis about 150 bytes
// for those 24 hours (160 measured with a longer prefix; the Redis key is a
// 128-bit hash of the user and the key, not the two), so a million keyed
// requests a day hold about 150 MB: size Redis for the day's keyed requests
// (docs/architecture.md).
//
// Without Redis (an error, no answer within keyClaimTimeoutMs) the request goes
// on unchecked: the services' own checks, and the effect happening once,
// never depended on this one; a warning says so at most every 10 s, and
// claims are not tried again for a second, so an outage costs one wait.

export interface KeyScope {
  /** 'ok': the key is this service's (now or before), or could not be checked; 'elsewhere': another service's. */
  claim(userUuid: string, key: string, owner: KeyOwner): Promise<'ok' | 'elsewhere'>;
}

export const keyClaimTtlMs = 24 * 3_600_000;
/** Longest a claim waits on Redis before the request goes on unchecked (also the claims client's command timeout). */
export const keyClaimTimeoutMs = 250;
const pauseAfterFailureMs = 1_000;
const failureLogIntervalMs = 10_000;
/** Claims an instance remembers at most; past it those not used longest are read from Redis again. */
const claimsRememberedMax = 100_000;
const claimRememberedMs = 10 * 60_000;

export function createKeyScope(options: {
  redis: Redis;
  logger: Logger;
  /** Prefix of the Redis keys; tests use their own. */
  keyPrefix?: string;
  now?: () => number;
}): KeyScope {
  const { redis, logger } = options;
  const keyPrefix = options.keyPrefix ?? 'idem';
  const now = options.now ?? Date.now;
  const owners = createBoundedMap<string, { owner: string; until: number }>(claimsRememberedMax);
  let pausedUntil = 0;
  let lastWarnedAt = 0;

  function unchecked(reason: unknown): 'ok' {
    pausedUntil = now() + pauseAfterFailureMs;
    if (now() - lastWarnedAt >= failureLogIntervalMs) {
      lastWarnedAt = now();
      logger.warn(
        { err: reason },
        'Idempotency-Key claims cannot reach Redis; keys are checked by each service alone',
      );
    }
    return 'ok';
  }

  return {
    async claim(userUuid, key, owner) {
      // The user and the key can hold no newline: the pair is unambiguous.
      const hashed = createHash('sha256')
        .update(`${userUuid}\n${key}`)
        .digest()
        .subarray(0, 16)
        .toString('base64url');
      const known = owners.get(hashed);
      if (known !== undefined && known.until > now()) return known.owner === owner ? 'ok' : 'elsewhere';
      if (now() < pausedUntil) return 'ok';
      let timer: NodeJS.Timeout | undefined;
      let previous: string | null;
      try {
        previous = await Promise.race([
          redis.set(`${keyPrefix}:${hashed}`, owner, 'PX', keyClaimTtlMs, 'NX', 'GET'),
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${keyClaimTimeoutMs} ms`)),
              keyClaimTimeoutMs,
            );
          }),
        ]);
      } catch (error) {
        return unchecked(error);
      } finally {
        clearTimeout(timer);
      }
      const holder = previous ?? owner;
      // Remembered briefly: near the end of its 24 hours Redis lets the claim go, and this must follow.
      owners.set(hashed, { owner: holder, until: now() + claimRememberedMs });
      return holder === owner ? 'ok' : 'elsewhere';
    },
  };
}
