import { type Algorithm, hash, verify } from '@node-rs/argon2';

// OWASP Password Storage Cheat Sheet, argon2id option 1: m=47104 KiB (46 MiB),
// t=1, p=1 is the stronger-memory choice; we take m=19456 KiB with t=2 (the
// same cost class, less memory per concurrent login on small hosts).
const argon2id = 2 as Algorithm;
const hashOptions = { algorithm: argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 };

/** A PHC string (algorithm, parameters, salt, hash); the salt is random per call. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, hashOptions);
}

// Verified when the loginId is unknown, so that answer takes as long as a
// wrong password and the timing does not tell which loginIds exist.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  if (storedHash === undefined) {
    dummyHash ??= hashPassword('not-a-real-password-0');
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}
