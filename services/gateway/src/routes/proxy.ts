import { bearerToken, type CachingAccessTokenVerifier } from '@nuri/platform/access-token';
import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import { idempotencyKeyHeader, isIdempotencyKey } from '@nuri/platform/idempotency';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyScope } from '../key-scope.ts';
import type { UpstreamProxy } from '../proxy.ts';
import type { RateDecision, RateLimiter } from '../rate-limit.ts';
import {
  isAmbiguousPath,
  keyOwnerOf,
  needsAccessToken,
  publicRoutes,
  type UpstreamName,
} from '../routing.ts';

export interface ProxyRouteDeps {
  proxy: UpstreamProxy;
  verifier: CachingAccessTokenVerifier;
  rateLimiter: RateLimiter;
  /**
   * Per-IP limits of the routes that cost a password hash, per minute (a
   * family behind one NAT never meets them): signup and login.
   */
  routeLimiters: { signup: RateLimiter; login: RateLimiter };
  /** Which service a user's Idempotency-Key belongs to (key-scope.ts). */
  keyScope: KeyScope;
}

const hashingRoutes: ReadonlyMap<string, 'signup' | 'login'> = new Map([
  ['/api/v1/auth/signup', 'signup'],
  ['/api/v1/auth/login', 'login'],
  ['/api/v1/auth/web-session', 'login'],
]);

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

// The verified subject of a request, kept beside it rather than on it.
const verifiedUsers = new WeakMap<FastifyRequest, string>();

type Done = (error?: Error) => void;

/**
 * The public API: each route of publicRoutes is checked (path shape, access
 * token, rate limits) before its body is even read, then forwarded as is to
 * its channel service, whose answer comes back unchanged.
 */
export function registerProxyRoutes(app: HttpApp, deps: ProxyRouteDeps): void {
  // Bodies stay bytes: the owning service parses and validates them, so the
  // gateway neither rewrites nor re-serialises what clients send. The size
  // limit (413) still applies while reading.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  for (const { upstream, urls } of publicRoutes) {
    for (const url of urls) {
      app.route({
        method: [...methods],
        url,
        onRequest: (request, _reply, done) => admit(deps, request, done),
        handler: (request, reply) => forward(deps, upstream, request, reply),
      });
    }
  }
}

// Runs on every forwarded request, so it only waits when it must: a token
// seen before is answered from the cache, and only a new one waits for its
// signature check.
function admit(deps: ProxyRouteDeps, request: FastifyRequest, done: Done): void {
  const path = pathOf(request);
  if (isAmbiguousPath(path)) {
    done(new AppError('NOT_FOUND', 404, `No route for ${request.method} ${path}`));
    return;
  }
  // As the router (here and at the service) matches it: `/api/v1/auth/logi%6e` is
  // the login, and must be anonymous and counted as one (a review found it skipping both).
  const routed = decodedPath(path);
  if (!needsAccessToken(routed)) {
    const hashing = hashingRoutes.get(routed);
    done(
      limited(deps.rateLimiter.hit(request.ip, undefined)) ??
        (hashing === undefined ? undefined : limited(deps.routeLimiters[hashing].hit(request.ip, undefined))),
    );
    return;
  }
  const token = bearerToken(request.headers.authorization);
  const known = token === undefined ? undefined : deps.verifier.cachedClaims(token);
  if (known !== undefined) {
    const decision = deps.rateLimiter.hit(request.ip, known.userUuid);
    if (!decision.limited) verifiedUsers.set(request, known.userUuid);
    done(limited(decision));
    return;
  }
  // The IP is counted before a signature is checked: a flood of new or bad
  // tokens from one client is refused without an Ed25519 verify each.
  const byIp = limited(deps.rateLimiter.hit(request.ip, undefined));
  if (byIp !== undefined || token === undefined) {
    done(byIp ?? new AppError('UNAUTHENTICATED', 401, 'An access token is required'));
    return;
  }
  deps.verifier.verify(token).then(
    (claims) => {
      const decision = deps.rateLimiter.hitUser(claims.userUuid);
      if (!decision.limited) verifiedUsers.set(request, claims.userUuid);
      done(limited(decision));
    },
    (error: Error) => done(error),
  );
}

/** The refusal of a limited request; its Retry-After comes from retryAfterSeconds (the error handler). */
function limited(decision: RateDecision): AppError | undefined {
  if (!decision.limited) return undefined;
  return new AppError('RATE_LIMITED', 429, 'Too many requests; slow down', {
    retryAfterSeconds: decision.retryAfterSeconds,
  });
}

async function forward(
  deps: ProxyRouteDeps,
  upstream: UpstreamName,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const userUuid = verifiedUsers.get(request);
  // Only a request carrying a key waits for its claim: every other one forwards at once.
  const key = request.headers[idempotencyKeyHeader];
  if (userUuid !== undefined && key !== undefined)
    await refuseKeyOfAnotherService(deps, request, userUuid, key);
  let answer: Awaited<ReturnType<UpstreamProxy['forward']>>;
  try {
    answer = await deps.proxy.forward(upstream, {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
      requestId: request.id,
      clientIp: request.ip,
      protocol: request.protocol,
      userUuid,
    });
  } catch (error) {
    request.log.warn({ upstream, err: error }, 'forwarding failed');
    throw error;
  }
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/**
 * 422 IDEMPOTENCY_KEY_REUSED for a keyed POST whose key the user already
 * used at the other service that keeps keys (channel-user's accounts,
 * deposits, withdrawals and transfers; point's charges and payments). A
 * malformed key is left to the service, which answers 400.
 */
async function refuseKeyOfAnotherService(
  deps: ProxyRouteDeps,
  request: FastifyRequest,
  userUuid: string,
  key: string | string[],
): Promise<void> {
  if (!isIdempotencyKey(key)) return;
  // As the router saw it: `/api/v1/transfer%73` is the transfers route too.
  const owner = keyOwnerOf(request.method, decodedPath(pathOf(request)));
  if (owner === undefined) return;
  if ((await deps.keyScope.claim(userUuid, key, owner)) === 'elsewhere') {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      422,
      'This Idempotency-Key was used for another request (on another route); use a new key',
    );
  }
}

/** The path with its percent escapes decoded (those isAmbiguousPath lets through); as sent if it cannot be. */
function decodedPath(path: string): string {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function pathOf(request: FastifyRequest): string {
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
}
