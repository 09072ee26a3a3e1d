import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import { bearerToken, createCachingAccessTokenVerifier } from '@nuri/platform/access-token';
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
export function createUserAuthenticator(verifier: AccessTokenVerifier) {
  const tokens = createCachingAccessTokenVerifier(verifier);
  return async function authenticate(authorization: string | undefined): Promise<string> {
    const token = bearerToken(authorization);
    if (token === undefined) throw new AppError('UNAUTHENTICATED', 401, 'A valid access token is required');
    return (tokens.cachedClaims(token) ?? (await tokens.verify(token))).userUuid;
  };
}

export type UserAuthenticator = ReturnType<typeof createUserAuthenticator>;

// Admin routes carry the shared admin token (the gateway does not check them
// for coupon): the check is the platform's, the same the gateway runs for its own.
export { createAdminAuthenticator };
