import { setTimeout as sleep } from 'node:timers/promises';

// MariaDB/MySQL error numbers the repositories act on.
const duplicateEntryErrno = 1062;
const lockWaitTimeoutErrno = 1205;
const deadlockErrno = 1213;

function errnoOf(error: unknown): number | undefined {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' ? errno : undefined;
}

/** A unique-key violation of the named key (the message is the only place MariaDB names it). */
export function isDuplicateKey(error: unknown, keyName: string): boolean {
  return errnoOf(error) === duplicateEntryErrno && String((error as Error).message).includes(keyName);
}

/** The transaction lost a lock race and was rolled back; running it again is safe. */
export function isLockConflict(error: unknown): boolean {
  const errno = errnoOf(error);
  return errno === deadlockErrno || errno === lockWaitTimeoutErrno;
}

/**
 * Runs `work` again when it lost a lock race, at most `attemptsMax` times in
 * all, after a growing, jittered pause: transactions that deadlocked together
 * and retried at once would only meet again.
 */
export async function retryOnLockConflict<T>(work: () => Promise<T>, attemptsMax = 6): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attemptsMax || !isLockConflict(error)) throw error;
      const ceilingMs = Math.min(200, 5 * 2 ** attempt);
      await sleep(ceilingMs / 2 + Math.random() * (ceilingMs / 2));
    }
  }
}
