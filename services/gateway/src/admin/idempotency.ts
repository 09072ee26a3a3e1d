import { createHash } from 'node:crypto';
import { AppError } from '@nuri/platform/errors';
import type { Redis } from '@nuri/platform/redis';

// An optional Idempotency-Key on the operator console's POSTs (a console that
// retries after a lost answer): same key + same body → the first answer again,
// flagged Idempotent-Replayed; same key + another body → 422
// IDEMPOTENCY_KEY_REUSED; while the first still runs → 409
// IDEMPOTENCY_KEY_IN_PROGRESS. The gateway has no database, so the answers
// live in Redis, shared by every instance, for 24 hours.

const answerTtlMs = 24 * 60 * 60_000;
/** A claim whose request died with its instance frees the key after this long. */
const claimTtlMs = 2 * 60_000;

type Stored = { hash: string; state: 'running' } | { hash: string; state: 'done'; answer: unknown };

export interface AdminIdempotency {
  /**
   * Runs `work` once per key and body. Without a key it simply runs it.
   * Returns its answer and whether it is a replay of an earlier one.
   */
  once<T>(
    scope: string,
    key: string | undefined,
    body: unknown,
    work: () => Promise<T>,
  ): Promise<{ answer: T; replayed: boolean }>;
}

export function createAdminIdempotency(redis: Redis, keyPrefix = 'admin-idem'): AdminIdempotency {
  return {
    async once<T>(scope: string, key: string | undefined, body: unknown, work: () => Promise<T>) {
      if (key === undefined) return { answer: await work(), replayed: false };
      const redisKey = `${keyPrefix}:${scope}:{${key}}`;
      const hash = hashOf(body);
      const claim: Stored = { hash, state: 'running' };
      const claimed = await keyStore(() =>
        redis.set(redisKey, JSON.stringify(claim), 'PX', claimTtlMs, 'NX'),
      );
      if (claimed === null) {
        return { answer: replayOf<T>(await keyStore(() => redis.get(redisKey)), hash), replayed: true };
      }
      let answer: T;
      try {
        answer = await work();
      } catch (error) {
        // Failed: the key is free again (an AppError refusal is not kept, the client fixes and retries).
        await redis.del(redisKey).catch(() => undefined);
        throw error;
      }
      const done: Stored = { hash, state: 'done', answer };
      // Best effort: the work is done and its answer is owed. Unrecorded, the claim lapses and a
      // retry runs the work again — which for a replay skips what went (the audit records it).
      await redis.set(redisKey, JSON.stringify(done), 'PX', answerTtlMs).catch(() => undefined);
      return { answer, replayed: false };
    },
  };
}

/** Redis unreachable: the key cannot be honoured, so nothing runs (the client may retry, or send no key). */
async function keyStore<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch {
    throw new AppError(
      'REDIS_UNAVAILABLE',
      503,
      'The Idempotency-Key cannot be checked right now; retry shortly (nothing was done)',
    );
  }
}

function replayOf<T>(text: string | null, hash: string): T {
  const stored = text === null ? undefined : (JSON.parse(text) as Stored);
  if (stored === undefined) {
    throw new AppError(
      'IDEMPOTENCY_KEY_IN_PROGRESS',
      409,
      'A request with this Idempotency-Key just failed; retry',
    );
  }
  if (stored.hash !== hash) {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      422,
      'This Idempotency-Key was used with a different request',
    );
  }
  if (stored.state !== 'done') {
    throw new AppError(
      'IDEMPOTENCY_KEY_IN_PROGRESS',
      409,
      'A request with this Idempotency-Key is still in progress',
    );
  }
  return stored.answer as T;
}

/** Key order does not make two bodies different. */
export function hashOf(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, inner]) => `${JSON.stringify(name)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
