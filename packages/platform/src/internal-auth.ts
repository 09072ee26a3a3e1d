import assert from 'node:assert/strict';
import { createHash, timingSafeEqual } from 'node:crypto';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyRequest,
  FastifyTypeProvider,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
} from 'fastify';
import { type TProperties, Type } from 'typebox';
import { AppError } from './errors.ts';

// Core-zone services answer only calls from other services of this system,
// which prove it with the shared internal token (DESIGN.md, Services). Health
// and metrics stay open so that probes and scrapers need no secret.

export const internalTokenLengthMin = 32;
export const internalTokenLengthMax = 512;

/** The config fragment a core service composes into its config schema (the token has no default: it is a secret). */
export const internalAuthConfig = {
  NURI_INTERNAL_TOKEN: Type.String({
    minLength: internalTokenLengthMin,
    maxLength: internalTokenLengthMax,
    pattern: '^[A-Za-z0-9._~+/=-]+$',
  }),
} satisfies TProperties;

export type InternalAuthOptions = {
  /** The expected bearer token (NURI_INTERNAL_TOKEN). */
  token: string;
  /** Route templates answered without a token; health and metrics by default. */
  isOpenRoute?: (routeUrl: string) => boolean;
};

/** `/health`, `/health/*` and `/metrics`: what probes and scrapers call. */
export function isOperationalRoute(path: string): boolean {
  return path === '/metrics' || path === '/health' || path.startsWith('/health/');
}

const bearerPattern = /^Bearer +([^\s]+) *$/i;

/**
 * Returns a check of an Authorization header against `token`. Both sides are
 * hashed before the constant-time comparison, so neither the token's length
 * nor the position of the first wrong character shows in the timing.
 */
export function createInternalTokenVerifier(token: string): (authorization: string | undefined) => boolean {
  // A short or empty expected token is a configuration bug that would let
  // guessable callers in; config validation should have refused it already.
  assert.ok(
    token.length >= internalTokenLengthMin,
    `the internal token must be at least ${internalTokenLengthMin} chars`,
  );
  const expectedDigest = sha256(token);
  return (authorization) => {
    const presented = authorization === undefined ? undefined : bearerPattern.exec(authorization)?.[1];
    if (presented === undefined || presented.length > internalTokenLengthMax) return false;
    return timingSafeEqual(sha256(presented), expectedDigest);
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Fastify plugin: every request, including unmatched ones (so route names do
 * not leak), needs `Authorization: Bearer <token>`, except open routes.
 * Anything else is answered `401 UNAUTHENTICATED` as problem+json.
 * It is not encapsulated: registered on the root instance it guards the whole app.
 */
export const internalAuth: FastifyPluginAsync<InternalAuthOptions> = async (app, options) => {
  requireInternalToken(app, options);
};
// What fastify-plugin does: run in the parent's context instead of a child's.
Object.assign(internalAuth, { [Symbol.for('skip-override')]: true });

/** The same guard as `internalAuth`, added directly to `app`'s context. */
export function requireInternalToken<
  Server extends RawServerBase,
  Logger extends FastifyBaseLogger,
  TypeProvider extends FastifyTypeProvider,
>(
  app: FastifyInstance<
    Server,
    RawRequestDefaultExpression<Server>,
    RawReplyDefaultExpression<Server>,
    Logger,
    TypeProvider
  >,
  options: InternalAuthOptions,
): void {
  const verify = createInternalTokenVerifier(options.token);
  const isOpenRoute = options.isOpenRoute ?? isOperationalRoute;
  app.addHook('onRequest', async (request, reply) => {
    if (isOpenRoute(routeOf(request))) return;
    if (verify(request.headers.authorization)) return;
    reply.header('www-authenticate', 'Bearer realm="nuri-internal"');
    throw new AppError('UNAUTHENTICATED', 401, 'A valid internal service token is required');
  });
}

// The template of the route that matched, not the raw URL: however a path is
// spelled (dot segments, encodings, query strings), only a request that the
// router actually sends to an open route is let through. Unmatched requests
// have no template and need the token.
function routeOf(request: Pick<FastifyRequest, 'routeOptions'>): string {
  return request.routeOptions.url ?? '';
}
