import assert from 'node:assert/strict';
import { type AccessTokenVerifier, bearerToken } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import { createRequestUserVerifier, type IdentityAssertionCheck } from '@nuri/platform/identity-assertion';
import type { FastifyRequest } from 'fastify';
import type { RouteScope } from './scope.ts';

// Kept beside the request rather than on it, to avoid augmenting Fastify's types.
const usersOf = new WeakMap<FastifyRequest, string>();

/**
 * Every route in `scope` needs a valid access token: verified here, or
 * behind the gateway vouched for by the gateway's assertion for this very
 * token (docs/architecture.md "Identity behind the gateway"). It runs on
 * onRequest, so a missing token is a 401 before the body is even read.
 */
export function requireAccessToken(
  scope: RouteScope,
  verifier: AccessTokenVerifier,
  gatewayAssertions: IdentityAssertionCheck | undefined,
): void {
  const verifyUser = createRequestUserVerifier(verifier, gatewayAssertions);
  scope.addHook('onRequest', async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      reply.header('www-authenticate', 'Bearer');
      throw new AppError('UNAUTHENTICATED', 401, 'An access token is required');
    }
    const claims = await verifyUser(token, request.headers);
    // The gateway forwards the token's subject; a different one means a forged header.
    const forwarded = request.headers['x-user-uuid'];
    if (forwarded !== undefined && forwarded !== claims.userUuid) {
      throw new AppError('UNAUTHENTICATED', 401, 'The access token does not match the request');
    }
    usersOf.set(request, claims.userUuid);
  });
}

/** The authenticated user of a request that passed requireAccessToken. */
export function userOf(request: FastifyRequest): string {
  const userUuid = usersOf.get(request);
  assert.ok(userUuid !== undefined, 'userOf called on a route without requireAccessToken');
  return userUuid;
}
