import assert from 'node:assert/strict';
import { type AccessTokenVerifier, bearerToken } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import {
  createInternalCallerVerifier,
  guardUnmatchedInternalPaths,
  type InternalCallers,
  type InternalRoutePolicy,
  internalRefusal,
} from '@nuri/platform/internal-auth';
import type { FastifyRequest } from 'fastify';
import { coreViewRoutes } from './core-view.ts';

/**
 * Who may call which internal route: point asks who owns an account before a
 * payment; the operator (`nuri reconcile`) and the gateway (the operator
 * console) read deposit totals and the outbox's backlog; the gateway also
 * sees the core through here (core-view.ts), never directly.
 */
export const internalRoutePolicy: InternalRoutePolicy = {
  point: ['GET /internal/v1/account-links/:accountNo'],
  ops: ['GET /internal/v1/deposit-totals', 'GET /internal/v1/ops/outbox'],
  gateway: ['GET /internal/v1/deposit-totals', 'GET /internal/v1/ops/outbox', ...coreViewRoutes],
};

/** Public routes of docs/api.md that need no access token. */
const openApiRoutes = new Set([
  '/api/v1/auth/signup',
  '/api/v1/auth/login',
  '/api/v1/auth/refresh',
  '/api/v1/auth/web-session',
  '/api/v1/auth/web-session/refresh',
  // The cookie is its credential: a tab whose access token expired can still log out.
  '/api/v1/auth/web-session/logout',
]);

// Kept beside the request rather than on it, to avoid augmenting Fastify's types.
const authenticatedUsers = new WeakMap<FastifyRequest, string>();

/**
 * Guards by route template, before body validation (an anonymous request
 * learns nothing about the body rules): `/api/*` needs a valid access token
 * (verified here again, whatever the gateway did), `/internal/*` the
 * token of a caller allowed that route. Unmatched requests fall through to the 404
 * (under `/internal/`, only with a known caller's token).
 */
export function guardRoutes(
  app: HttpApp,
  verifier: AccessTokenVerifier,
  internalCallers: InternalCallers,
): void {
  const verifyInternal = createInternalCallerVerifier(internalCallers, internalRoutePolicy);
  guardUnmatchedInternalPaths(app, internalCallers);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url ?? '';
    if (route.startsWith('/internal/')) {
      const verdict = verifyInternal(request.headers.authorization, `${request.method} ${route}`);
      if ('refused' in verdict) throw internalRefusal(verdict.refused);
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
