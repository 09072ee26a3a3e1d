import assert from 'node:assert/strict';
import { type AccessTokenVerifier, bearerToken } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import type { FastifyRequest } from 'fastify';
import type { RouteScope } from './scope.ts';

// Kept beside the request rather than on it, to avoid augmenting Fastify's types.
const usersOf = new WeakMap<FastifyRequest, string>();

/**
 * Every route in `scope` needs a valid access token, checked here even behind
 * the gateway (defence in depth, docs/architecture.md "Login"). It runs on onRequest, so
 * a missing token is a 401 before the body is even read.
 */
export function requireAccessToken(scope: RouteScope, verifier: AccessTokenVerifier): void {
  scope.addHook('onRequest', async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      reply.header('www-authenticate', 'Bearer');
      throw new AppError('UNAUTHENTICATED', 401, 'An access token is required');
    }
    const claims = await verifier.verify(token);
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
