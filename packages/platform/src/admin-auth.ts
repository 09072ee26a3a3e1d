import { createHash, timingSafeEqual } from 'node:crypto';
import { type TProperties, Type } from 'typebox';
import { AppError } from './errors.ts';

// The admin token (docs/api.md "Coupons", "Operations"): one shared bearer for the
// operator's routes under /api/v1/admin/*. Whoever answers such a route checks
// it itself — coupon for its campaigns, the gateway for the operator console's
// APIs — the same way, with this.

/** The admin token (a secret: no default). */
export const adminTokenConfig = {
  NURI_ADMIN_TOKEN: Type.String({ minLength: 32, maxLength: 512, pattern: '^[A-Za-z0-9._~+/=-]+$' }),
} satisfies TProperties;

const adminBearerPattern = /^Bearer +(\S+) *$/i;

/**
 * Returns a check of an Authorization header against the admin token: missing
 * → 401 UNAUTHENTICATED, wrong → 403 FORBIDDEN. Both sides are hashed before
 * the constant-time comparison, so neither length nor the first wrong
 * character shows in the timing.
 */
export function createAdminAuthenticator(adminToken: string): (authorization: string | undefined) => void {
  const expected = sha256(adminToken);
  return function authenticateAdmin(authorization) {
    const presented = authorization === undefined ? undefined : adminBearerPattern.exec(authorization)?.[1];
    if (presented === undefined) throw new AppError('UNAUTHENTICATED', 401, 'The admin token is required');
    if (!timingSafeEqual(sha256(presented), expected)) {
      throw new AppError('FORBIDDEN', 403, 'The admin token is not valid');
    }
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
