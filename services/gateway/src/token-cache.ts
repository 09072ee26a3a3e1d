import type { AccessTokenClaims, AccessTokenVerifier } from '@nuri/platform/access-token';

/** Distinct tokens remembered; beyond this the oldest are forgotten (and verified again when seen). */
export const verifiedTokensMax = 50_000;

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
): AccessTokenVerifier {
  const verified = new Map<string, AccessTokenClaims>();
  return {
    async verify(token) {
      const cached = verified.get(token);
      if (cached !== undefined && cached.expiresAt.getTime() > now()) return cached;
      if (cached !== undefined) verified.delete(token);
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
