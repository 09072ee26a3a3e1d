import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import { bearerToken } from '@nuri/platform/access-token';
import { createAdminAuthenticator } from '@nuri/platform/admin-auth';
import { AppError } from '@nuri/platform/errors';

/**
 * Verifies the user's access token again (defence in depth: the gateway did
 * too) and returns its subject. Verified tokens are remembered until they
 * expire: an Ed25519 verification costs more CPU than the whole issue script,
 * and a user racing for a coupon sends the same token many times. Access
 * tokens cannot be revoked before expiry anyway, so the cache changes nothing
 * about who gets in.
 */
export function createUserAuthenticator(verifier: AccessTokenVerifier, cachedTokensMax = 50_000) {
  const verified = new Map<string, { userUuid: string; expiresAtMs: number }>();
  return async function authenticate(authorization: string | undefined): Promise<string> {
    const token = bearerToken(authorization);
    if (token === undefined) throw new AppError('UNAUTHENTICATED', 401, 'A valid access token is required');
    const hit = verified.get(token);
    if (hit !== undefined && hit.expiresAtMs > Date.now()) return hit.userUuid;
    const claims = await verifier.verify(token);
    // Oldest first: Map keeps insertion order.
    if (verified.size >= cachedTokensMax) verified.delete(verified.keys().next().value!);
    verified.set(token, { userUuid: claims.userUuid, expiresAtMs: claims.expiresAt.getTime() });
    return claims.userUuid;
  };
}

export type UserAuthenticator = ReturnType<typeof createUserAuthenticator>;

// Admin routes carry the shared admin token (the gateway does not check them
// for coupon): the check is the platform's, the same the gateway runs for its own.
export { createAdminAuthenticator };
