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

// Internal routes answer only calls from other services of this system, and
// each caller proves who it is with a credential of its own (docs/architecture.md,
// Services): a service that is compromised can do what its own token allows,
// nothing more. Each service that has internal routes lists the callers it
// accepts (NURI_INTERNAL_CALLERS, `name=token,…`) and, in code, the routes each
// of them may call; a service that calls others presents its own token
// (NURI_INTERNAL_TOKEN). `ops` is the operator's token (`nuri reconcile`, …).
// Health and metrics stay open so that probes and scrapers need no secret.

export const internalTokenLengthMin = 32;
export const internalTokenLengthMax = 512;

const tokenPattern = '[A-Za-z0-9._~+/=-]{32,512}';
const callerPattern = '[a-z][a-z0-9-]{0,31}';

/** The token this service presents when it calls another (a secret: no default). */
export const internalAuthConfig = {
  NURI_INTERNAL_TOKEN: Type.String({
    minLength: internalTokenLengthMin,
    maxLength: internalTokenLengthMax,
    pattern: '^[A-Za-z0-9._~+/=-]+$',
  }),
} satisfies TProperties;

/** The callers this service accepts, each with its token: `channel-user=…,ops=…` (secrets: no default). */
export const internalCallersConfig = {
  NURI_INTERNAL_CALLERS: Type.String({
    pattern: `^${callerPattern}=${tokenPattern}(,${callerPattern}=${tokenPattern})*$`,
  }),
} satisfies TProperties;

/** Caller name → its token. */
export type InternalCallers = Readonly<Record<string, string>>;
/** Caller name → the routes (`METHOD /route/template`) it may call, or 'any'. Callers not named may call nothing. */
export type InternalRoutePolicy = Readonly<Record<string, 'any' | readonly string[]>>;

export function parseInternalCallers(text: string): InternalCallers {
  const callers: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const separator = pair.indexOf('=');
    if (separator <= 0) continue;
    callers[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return callers;
}

export type InternalAuthOptions = {
  callers: InternalCallers;
  policy: InternalRoutePolicy;
  /** Route templates answered without a token; health and metrics by default. */
  isOpenRoute?: (routeUrl: string) => boolean;
};

/** `/health`, `/health/*` and `/metrics`: what probes and scrapers call. */
export function isOperationalRoute(path: string): boolean {
  return path === '/metrics' || path === '/health' || path.startsWith('/health/');
}

const bearerPattern = /^Bearer +([^\s]+) *$/i;

export type InternalVerdict = { caller: string } | { refused: 'UNAUTHENTICATED' | 'FORBIDDEN' };

/**
 * Returns a check of an Authorization header and a route (`METHOD template`)
 * against the accepted callers and their routes. Every token is hashed and
 * compared in constant time, against every caller, so neither a token's
 * length, nor the first wrong character, nor which caller it was close to
 * shows in the timing.
 */
export function createInternalCallerVerifier(
  callers: InternalCallers,
  policy: InternalRoutePolicy,
): (authorization: string | undefined, route: string) => InternalVerdict {
  const known = Object.entries(callers).map(([caller, token]) => {
    // A short token is a configuration bug that would let guessable callers in.
    assert.ok(
      token.length >= internalTokenLengthMin,
      `the token of ${caller} must be at least ${internalTokenLengthMin} chars`,
    );
    return { caller, digest: sha256(token) };
  });
  return (authorization, route) => {
    const presented = authorization === undefined ? undefined : bearerPattern.exec(authorization)?.[1];
    if (presented === undefined || presented.length > internalTokenLengthMax)
      return { refused: 'UNAUTHENTICATED' };
    const digest = sha256(presented);
    let caller: string | undefined;
    for (const candidate of known) {
      if (timingSafeEqual(digest, candidate.digest)) caller = candidate.caller;
    }
    if (caller === undefined) return { refused: 'UNAUTHENTICATED' };
    const allowed = policy[caller];
    if (allowed === 'any' || allowed?.includes(route) === true) return { caller };
    return { refused: 'FORBIDDEN' };
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The AppError for a refused internal call (401 who are you, 403 not for you). */
export function internalRefusal(refused: 'UNAUTHENTICATED' | 'FORBIDDEN'): AppError {
  return refused === 'UNAUTHENTICATED'
    ? new AppError('UNAUTHENTICATED', 401, 'A valid internal service token is required')
    : new AppError('FORBIDDEN', 403, 'This service may not call this route');
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

/** Any Fastify instance or scope, whatever its server, logger and type provider. */
type AnyFastify<
  Server extends RawServerBase,
  Logger extends FastifyBaseLogger,
  TypeProvider extends FastifyTypeProvider,
> = FastifyInstance<
  Server,
  RawRequestDefaultExpression<Server>,
  RawReplyDefaultExpression<Server>,
  Logger,
  TypeProvider
>;

/** The same guard as `internalAuth`, added directly to `app`'s context. */
export function requireInternalToken<
  Server extends RawServerBase,
  Logger extends FastifyBaseLogger,
  TypeProvider extends FastifyTypeProvider,
>(app: AnyFastify<Server, Logger, TypeProvider>, options: InternalAuthOptions): void {
  const verify = createInternalCallerVerifier(options.callers, options.policy);
  const isOpenRoute = options.isOpenRoute ?? isOperationalRoute;
  app.addHook('onRequest', async (request, reply) => {
    if (isOpenRoute(routeOf(request))) return;
    const verdict = verify(request.headers.authorization, `${request.method} ${routeOf(request)}`);
    if ('caller' in verdict) return;
    if (verdict.refused === 'UNAUTHENTICATED')
      reply.header('www-authenticate', 'Bearer realm="nuri-internal"');
    throw internalRefusal(verdict.refused);
  });
}

/**
 * For a service whose internal routes sit beside public ones, each guarded in
 * its own scope: a path under `/internal/` that matches no route needs a known
 * caller's token as well (`401` without one, the `404` only with one), as on
 * a service guarded whole, so an anonymous caller cannot list which internal
 * routes exist by telling 404 from 401.
 */
export function guardUnmatchedInternalPaths<
  Server extends RawServerBase,
  Logger extends FastifyBaseLogger,
  TypeProvider extends FastifyTypeProvider,
>(app: AnyFastify<Server, Logger, TypeProvider>, callers: InternalCallers): void {
  // No route is granted: a known caller is FORBIDDEN (and gets the 404), anyone else UNAUTHENTICATED.
  const verify = createInternalCallerVerifier(callers, {});
  // Runs on every request of the service: the callback form costs no promise for the matched ones.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.url !== undefined || !isInternalPath(request.url)) {
      done();
      return;
    }
    const verdict = verify(request.headers.authorization, '');
    if ('refused' in verdict && verdict.refused === 'UNAUTHENTICATED') {
      reply.header('www-authenticate', 'Bearer realm="nuri-internal"');
      done(internalRefusal('UNAUTHENTICATED'));
      return;
    }
    done();
  });
}

function isInternalPath(url: string): boolean {
  const raw = url.split('?')[0]!;
  let path = raw;
  try {
    path = decodeURIComponent(raw);
  } catch {
    // Not decodable: judged as sent.
  }
  return path === '/internal' || path.startsWith('/internal/');
}

// The template of the route that matched, not the raw URL: however a path is
// spelled (dot segments, encodings, query strings), only a request that the
// router actually sends to an open route is let through. Unmatched requests
// have no template and need the token.
function routeOf(request: Pick<FastifyRequest, 'routeOptions'>): string {
  return request.routeOptions.url ?? '';
}
