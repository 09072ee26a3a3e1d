import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createHttpApp } from '../../src/http.ts';
import { createInternalTokenVerifier, internalAuth, requireInternalToken } from '../../src/internal-auth.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';

const token = randomBytes(32).toString('base64url');

function buildTestApp(guard: 'hook' | 'plugin' = 'hook') {
  const app = createHttpApp({
    name: 'test',
    logger: createLogger({ name: 'test', level: 'silent' }),
    metrics: createMetrics('test'),
  });
  if (guard === 'hook') requireInternalToken(app, { token });
  else app.register(internalAuth, { token });
  app.get('/internal/v1/things', async () => ({ ok: true }));
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

  it('when the scheme is written in another case, then the token is still accepted (RFC 9110 schemes are case-insensitive)', () => {
    const verify = createInternalTokenVerifier(token);
    assert.ok(verify(`bearer ${token}`));
    assert.equal(verify(undefined), false);
    assert.equal(verify(`Bearer ${'x'.repeat(10_000)}`), false);
  });

  it('when the expected token is shorter than 32 characters, then creating the guard fails loudly', () => {
    assert.throws(() => createInternalTokenVerifier('short'));
    assert.throws(() => createInternalTokenVerifier(''));
  });
});
