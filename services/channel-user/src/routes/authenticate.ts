import assert from 'node:assert/strict';
import { type AccessTokenVerifier, bearerToken } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import { createInternalTokenVerifier } from '@nuri/platform/internal-auth';
import type { FastifyRequest } from 'fastify';

/** Public routes of API.md that need no access token. */
const openApiRoutes = new Set(['/api/v1/auth/signup', '/api/v1/auth/login', '/api/v1/auth/refresh']);

// Kept beside the request rather than on it, to avoid augmenting Fastify's types.
const authenticatedUsers = new WeakMap<FastifyRequest, string>();

/**
 * Guards by route template, before body validation (an anonymous request
 * learns nothing about the body rules): `/api/*` needs a valid access token
 * (verified here again, whatever the gateway did), `/internal/*` the
 * internal service token. Unmatched requests fall through to the 404.
 */
export function guardRoutes(app: HttpApp, verifier: AccessTokenVerifier, internalToken: string): void {
  const verifyInternal = createInternalTokenVerifier(internalToken);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url ?? '';
    if (route.startsWith('/internal/')) {
      if (!verifyInternal(request.headers.authorization)) {
        throw new AppError('UNAUTHENTICATED', 401, 'A valid internal service token is required');
      }
      return;
    }
    if (!route.startsWith('/api/') || openApiRoutes.has(route)) return;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw new AppError('UNAUTHENTICATED', 401, 'An access token is required');
    const claims = await verifier.verify(token);
    // The gateway forwards the token's subject; a different one means a forged header.
    const forwarded = request.headers['x-user-uuid'];
    if (forwarded !== undefined && forwarded !== claims.userUuid) {
      throw new AppError('UNAUTHENTICATED', 401, 'The access token does not match the request');
    }
    authenticatedUsers.set(request, claims.userUuid);
  });
}

/** The userUuid of the access token of a guarded route's request. */
export function userOf(request: FastifyRequest): string {
  const userUuid = authenticatedUsers.get(request);
  assert.ok(userUuid !== undefined, `route ${request.routeOptions.url} is not behind the access-token guard`);
  return userUuid;
}
