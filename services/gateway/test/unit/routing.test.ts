import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAmbiguousPath, needsAccessToken, publicRoutes } from '../../src/routing.ts';

test('when a path is signup, login, refresh, the JWKS or admin, then it needs no access token; everything else does', () => {
  for (const path of [
    '/api/v1/auth/signup',
    '/api/v1/auth/login',
    '/api/v1/auth/refresh',
    '/.well-known/jwks.json',
    '/api/v1/admin/coupon-campaigns',
  ]) {
    assert.equal(needsAccessToken(path), false, path);
  }
  for (const path of [
    '/api/v1/auth/logout',
    '/api/v1/me',
    '/api/v1/accounts',
    '/api/v1/auth/signup/x',
    '/api/v1/admin',
  ]) {
    assert.equal(needsAccessToken(path), true, path);
  }
});

test('when a path has dot segments, doubled or encoded slashes, then it is ambiguous', () => {
  for (const path of [
    '/api/v1/me/..',
    '/api/v1/./me',
    '/api/v1//me',
    '/api/v1/%2E%2E/x',
    '/api/v1/a%2fb',
    '/api/v1/a%5Cb',
    '/api/v1/a\\b',
  ]) {
    assert.equal(isAmbiguousPath(path), true, path);
  }
  for (const path of [
    '/api/v1/accounts/110-200-000001',
    '/api/v1/points/history',
    '/api/v1/a.b',
    '/api/v1/..a',
  ]) {
    assert.equal(isAmbiguousPath(path), false, path);
  }
});

test('when an admin path is the coupon campaigns, then it is forwarded to coupon; every other admin path is the gateway own', () => {
  const forwarded = publicRoutes.flatMap(({ upstream, urls }) => urls.map((url) => ({ upstream, url })));
  const admin = forwarded.filter(({ url }) => url.startsWith('/api/v1/admin/'));
  assert.deepEqual(admin, [
    { upstream: 'coupon', url: '/api/v1/admin/coupon-campaigns' },
    { upstream: 'coupon', url: '/api/v1/admin/coupon-campaigns/*' },
  ]);
  assert.equal(needsAccessToken('/api/v1/admin/services'), false, 'the admin token, not an access token');
});
