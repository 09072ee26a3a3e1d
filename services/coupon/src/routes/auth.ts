import type { IncomingHttpHeaders } from 'node:http';
import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import { bearerToken } from '@nuri/platform/access-token';
import { createAdminAuthenticator } from '@nuri/platform/admin-auth';
import { AppError } from '@nuri/platform/errors';
import { createRequestUserVerifier, type IdentityAssertionCheck } from '@nuri/platform/identity-assertion';

/**
 * The user of a request's access token, returned as its subject. Behind the
 * gateway, the gateway's assertion that it verified this very token is taken
 * (identity-assertion.ts: an HMAC, where an Ed25519 verification costs more
 * CPU than the whole issue script, and every user of a rush brings a token
 * the service has not seen); straight at the service the token is verified
 * here. Verified tokens are remembered until they expire: a user racing for
 * a coupon sends the same token many times, and access tokens cannot be
 * revoked before expiry anyway, so the cache changes nothing about who gets in.
 */
export function createUserAuthenticator(
  verifier: AccessTokenVerifier,
  gatewayAssertions: IdentityAssertionCheck | undefined,
  cachedTokensMax = 50_000,
) {
  const verified = new Map<string, { userUuid: string; expiresAtMs: number }>();
  const verifyUser = createRequestUserVerifier(
    {
      async verify(token) {
        const hit = verified.get(token);
        if (hit !== undefined && hit.expiresAtMs > Date.now())
          return { userUuid: hit.userUuid, tokenId: '', expiresAt: new Date(hit.expiresAtMs) };
        const claims = await verifier.verify(token);
        // Oldest first: Map keeps insertion order.
        if (verified.size >= cachedTokensMax) verified.delete(verified.keys().next().value!);
        verified.set(token, { userUuid: claims.userUuid, expiresAtMs: claims.expiresAt.getTime() });
        return claims;
      },
    },
    gatewayAssertions,
  );
  return async function authenticate(headers: IncomingHttpHeaders): Promise<string> {
    const token = bearerToken(headers.authorization);
    if (token === undefined) throw new AppError('UNAUTHENTICATED', 401, 'A valid access token is required');
    return (await verifyUser(token, headers)).userUuid;
  };
}

export type UserAuthenticator = ReturnType<typeof createUserAuthenticator>;

// Admin routes carry the shared admin token (the gateway does not check them
// for coupon): the check is the platform's, the same the gateway runs for its own.
export { createAdminAuthenticator };
