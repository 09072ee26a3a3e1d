import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createHttpApp } from '../../src/http.ts';
import {
  createInternalCallerVerifier,
  guardUnmatchedInternalPaths,
  internalAuth,
  parseInternalCallers,
  requireInternalToken,
} from '../../src/internal-auth.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';

const token = randomBytes(32).toString('base64url');
const otherToken = randomBytes(32).toString('base64url');
const callers = { 'channel-user': token, ops: otherToken };
const policy = { 'channel-user': 'any', ops: ['GET /internal/v1/things/:id'] } as const;

function buildTestApp(guard: 'hook' | 'plugin' = 'hook') {
  const app = createHttpApp({
    name: 'test',
    logger: createLogger({ name: 'test', level: 'silent' }),
    metrics: createMetrics('test'),
  });
  if (guard === 'hook') requireInternalToken(app, { callers, policy });
  else app.register(internalAuth, { callers, policy });
  app.get('/internal/v1/things', async () => ({ ok: true }));
  app.get('/internal/v1/things/:id', async () => ({ ok: true }));
  app.post('/internal/v1/things/:id', async () => ({ ok: true }));
  return app;
}

describe('internal auth', () => {
  it('when the request carries the internal token as a bearer, then it reaches the route', async () => {
    for (const guard of ['hook', 'plugin'] as const) {
      const app = buildTestApp(guard);
      const response = await app.inject({
        url: '/internal/v1/things',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(response.statusCode, 200, guard);
      assert.deepEqual(response.json(), { ok: true });
    }
  });

  it('when the token is missing, wrong, truncated, extended or in another scheme, then 401 UNAUTHENTICATED as problem+json', async () => {
    const headersList: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${randomBytes(32).toString('base64url')}` },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: `Bearer ${token}x` },
      { authorization: `Basic ${token}` },
      { authorization: token },
      { authorization: `Bearer ${token} extra` },
    ];
    for (const guard of ['hook', 'plugin'] as const) {
      const app = buildTestApp(guard);
      for (const headers of headersList) {
        const response = await app.inject({ url: '/internal/v1/things', headers });
        assert.equal(response.statusCode, 401, `${guard} ${JSON.stringify(headers)}`);
        assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
        assert.equal(response.json().code, 'UNAUTHENTICATED');
        assert.match(String(response.headers['www-authenticate']), /^Bearer/);
      }
    }
  });

  it('when an unknown path is called without the token, then 401 (not 404), so routes do not leak', async () => {
    const response = await buildTestApp().inject({ url: '/internal/v1/secret-admin' });
    assert.equal(response.statusCode, 401);
  });

  it('when internal routes are guarded in their own scope beside public ones, then an unmatched /internal/ path still needs a token: 401 without, 404 with a known caller’s', async () => {
    const app = createHttpApp({
      name: 'test',
      logger: createLogger({ name: 'test', level: 'silent' }),
      metrics: createMetrics('test'),
    });
    guardUnmatchedInternalPaths(app, callers);
    app.get('/api/v1/public', async () => ({ ok: true }));
    app.register(async (internal) => {
      requireInternalToken(internal, { callers, policy });
      internal.get('/internal/v1/things', async () => ({ ok: true }));
    });
    for (const url of [
      '/internal/v1/no-such-route',
      '/internal/v1/things/x/y',
      '/%69nternal/v1/nope',
      '/internal',
    ]) {
      const anonymous = await app.inject({ url });
      assert.equal(anonymous.statusCode, 401, url);
      assert.equal(anonymous.json().code, 'UNAUTHENTICATED', url);
      const known = await app.inject({ url, headers: { authorization: `Bearer ${otherToken}` } });
      assert.equal(known.statusCode, 404, url);
    }
    assert.equal((await app.inject({ url: '/internal/v1/things' })).statusCode, 401);
    assert.equal(
      (await app.inject({ url: '/api/v1/public' })).statusCode,
      200,
      'public routes need no internal token',
    );
    assert.equal(
      (await app.inject({ url: '/api/v1/no-such-route' })).statusCode,
      404,
      'elsewhere a 404 stays a 404',
    );
  });

  it('when health and metrics are called without a token, then they answer', async () => {
    const app = buildTestApp();
    for (const url of ['/health/live', '/health/ready', '/metrics', '/health/live?x=1']) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 200, url);
    }
  });

  it('when a path only looks like a health path, then it still needs the token', async () => {
    const app = buildTestApp();
    for (const url of ['/health/../internal/v1/things', '/health/nope', '//health/live']) {
      assert.equal((await app.inject({ url })).statusCode, 401, url);
    }
  });

  it('when a known caller calls a route it was not given, then 403 FORBIDDEN; the route it was given answers', async () => {
    for (const guard of ['hook', 'plugin'] as const) {
      const app = buildTestApp(guard);
      const headers = { authorization: `Bearer ${otherToken}` };
      const allowed = await app.inject({ url: '/internal/v1/things/1', headers });
      assert.equal(allowed.statusCode, 200, guard);
      for (const request of [
        { url: '/internal/v1/things', headers },
        { method: 'POST' as const, url: '/internal/v1/things/1', headers },
      ]) {
        const refused = await app.inject(request);
        assert.equal(refused.statusCode, 403, `${guard} ${request.url}`);
        assert.equal(refused.json().code, 'FORBIDDEN');
      }
    }
  });

  it('when the scheme is written in another case, then the token is still accepted (RFC 9110 schemes are case-insensitive)', () => {
    const verify = createInternalCallerVerifier(callers, policy);
    assert.deepEqual(verify(`bearer ${token}`, 'GET /x'), { caller: 'channel-user' });
    assert.deepEqual(verify(undefined, 'GET /x'), { refused: 'UNAUTHENTICATED' });
    assert.deepEqual(verify(`Bearer ${'x'.repeat(10_000)}`, 'GET /x'), { refused: 'UNAUTHENTICATED' });
  });

  it('when a caller is not named in the policy, then its token proves who it is but opens nothing', () => {
    const verify = createInternalCallerVerifier({ ...callers, coupon: 'c'.repeat(40) }, policy);
    assert.deepEqual(verify(`Bearer ${'c'.repeat(40)}`, 'GET /internal/v1/things/:id'), {
      refused: 'FORBIDDEN',
    });
  });

  it('when an accepted token is shorter than 32 characters, then creating the guard fails loudly', () => {
    assert.throws(() => createInternalCallerVerifier({ ops: 'short' }, policy));
    assert.throws(() => createInternalCallerVerifier({ ops: '' }, policy));
  });

  it('when the callers variable is parsed, then each name maps to its token (tokens may contain =)', () => {
    assert.deepEqual(parseInternalCallers(`ops=${token},coupon=abc==`), { ops: token, coupon: 'abc==' });
  });
});
