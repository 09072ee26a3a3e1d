import type { AccessTokenClaims, AccessTokenVerifier } from '@nuri/platform/access-token';

/** Distinct tokens remembered; beyond this the oldest are forgotten (and verified again when seen). */
export const verifiedTokensMax = 50_000;

export interface CachingVerifier extends AccessTokenVerifier {
  /** The claims of a token that verified before and has not expired, without waiting; else undefined. */
  cachedClaims(token: string): AccessTokenClaims | undefined;
}

/**
 * Remembers tokens that verified, until they expire: a client sends the same
 * token for up to 15 minutes, and checking its Ed25519 signature on every
 * request is the gateway's largest CPU cost. A changed byte is another key,
 * so a tampered token is never served from here; failures are not cached.
 */
export function createCachingVerifier(
  verifier: AccessTokenVerifier,
  entriesMax = verifiedTokensMax,
  now: () => number = Date.now,
): CachingVerifier {
  const verified = new Map<string, AccessTokenClaims>();
  const cachedClaims = (token: string): AccessTokenClaims | undefined => {
    const cached = verified.get(token);
    if (cached === undefined) return undefined;
    if (cached.expiresAt.getTime() > now()) return cached;
    verified.delete(token);
    return undefined;
  };
  return {
    cachedClaims,
    async verify(token) {
      const cached = cachedClaims(token);
      if (cached !== undefined) return cached;
      const claims = await verifier.verify(token);
      if (verified.size >= entriesMax) {
        const oldest = verified.keys().next().value;
        if (oldest !== undefined) verified.delete(oldest);
      }
      verified.set(token, claims);
      return claims;
    },
  };
}
