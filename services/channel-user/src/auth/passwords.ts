import { type Algorithm, hash, verify } from '@node-rs/argon2';
import { AppError } from '@nuri/platform/errors';
import { Semaphore } from '@nuri/platform/kafka/producer';

// OWASP Password Storage Cheat Sheet, argon2id option 1: m=47104 KiB (46 MiB),
// t=1, p=1 is the stronger-memory choice; we take m=19456 KiB with t=2 (the
// same cost class, less memory per concurrent login on small hosts).
const argon2id = 2 as Algorithm;
const hashOptions = { algorithm: argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 };

export interface PasswordHasherOptions {
  /** Hashes running at once (each takes a libuv pool thread for ~16 ms and 19 MiB). */
  concurrencyMax: number;
  /** Logins and signups waiting for a slot; beyond it, 503 with Retry-After at once. */
  waitingMax: number;
  /** How long one waits for a slot before 503. */
  waitMs: number;
}

export interface PasswordHasher {
  /** A PHC string (algorithm, parameters, salt, hash); the salt is random per call. */
  hash(password: string): Promise<string>;
  /** Checks a password; an unknown login (no stored hash) costs the same and answers false. */
  verify(storedHash: string | undefined, password: string): Promise<boolean>;
}

export const defaultHasherOptions: PasswordHasherOptions = {
  concurrencyMax: 2,
  waitingMax: 64,
  waitMs: 2_000,
};

function busy(): AppError {
  return new AppError(
    'SERVICE_UNAVAILABLE',
    503,
    'Too many logins are being checked right now; retry shortly',
  );
}

/**
 * argon2id is meant to be slow, which makes a flood of logins (random loginIds
 * hash too, rightly) an amplifier: unbounded, the hashes fill libuv's threads
 * and everything else that needs them — the token crypto of every request —
 * waits behind. So hashing runs `concurrencyMax` at a time (the process gets
 * more pool threads than that, server.ts), a bounded number waits, and the
 * rest are refused with 503 before any work is done.
 */
export function createPasswordHasher(options: PasswordHasherOptions = defaultHasherOptions): PasswordHasher {
  const slots = new Semaphore(options.concurrencyMax, options.waitingMax);
  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (!(await slots.acquire(options.waitMs))) throw busy();
    try {
      return await work();
    } finally {
      slots.release();
    }
  }
  // Verified when the loginId is unknown, so that answer takes as long as a
  // wrong password and the timing does not tell which loginIds exist.
  let dummyHash: Promise<string> | undefined;
  return {
    hash: (password) => limited(() => hash(password, hashOptions)),
    verify(storedHash, password) {
      return limited(async () => {
        if (storedHash === undefined) {
          dummyHash ??= hash('not-a-real-password-0', hashOptions);
          await verify(await dummyHash, password).catch(() => false);
          return false;
        }
        try {
          return await verify(storedHash, password);
        } catch {
          return false;
        }
      });
    },
  };
}
