import type { ChannelServiceName } from './config.ts';

export type UpstreamName = ChannelServiceName;

/**
 * The public API (docs/api.md) by owning service, as Fastify route patterns. Only
 * these are forwarded: /internal/* and anything unlisted answer 404 here.
 */
export const publicRoutes: ReadonlyArray<{ upstream: UpstreamName; urls: readonly string[] }> = [
  {
    upstream: 'channel-user',
    urls: [
      '/api/v1/auth/*',
      '/api/v1/me',
      '/api/v1/accounts',
      '/api/v1/accounts/*',
      '/api/v1/deposits/*',
      '/api/v1/transfer-recipients/*',
      '/api/v1/transfers',
      '/api/v1/transfers/*',
      '/.well-known/jwks.json',
    ],
  },
  {
    upstream: 'point',
    urls: ['/api/v1/points', '/api/v1/points/*', '/api/v1/payments', '/api/v1/payments/*'],
  },
  {
    upstream: 'coupon',
    // Of /api/v1/admin/*, only the campaigns are coupon's: the rest is the gateway's own (routes/admin.ts).
    urls: [
      '/api/v1/coupon-campaigns',
      '/api/v1/coupon-campaigns/*',
      '/api/v1/coupons',
      '/api/v1/coupons/*',
      '/api/v1/admin/coupon-campaigns',
      '/api/v1/admin/coupon-campaigns/*',
    ],
  },
];

/**
 * The POSTs that take an Idempotency-Key (docs/api.md), by the service that
 * keeps their keys: a key may be claimed by one of the two (key-scope.ts).
 */
export type KeyOwner = 'channel-user' | 'point';

const keyedPosts: ReadonlyArray<{ owner: KeyOwner; path: RegExp }> = [
  { owner: 'channel-user', path: /^\/api\/v1\/accounts$/ },
  { owner: 'channel-user', path: /^\/api\/v1\/accounts\/[^/]+\/(?:deposits|withdrawals)$/ },
  { owner: 'channel-user', path: /^\/api\/v1\/transfers$/ },
  { owner: 'point', path: /^\/api\/v1\/points\/charge$/ },
  { owner: 'point', path: /^\/api\/v1\/payments$/ },
];

/** The service whose key store a keyed POST to `path` uses, or undefined for any other request. */
export function keyOwnerOf(method: string, path: string): KeyOwner | undefined {
  if (method !== 'POST') return undefined;
  return keyedPosts.find((route) => route.path.test(path))?.owner;
}

/**
 * docs/api.md: no access token on signup, login, refresh and the JWKS (health is not
 * proxied); nor on the web console's cookie login and refresh (web-session).
 */
const anonymousPaths = new Set([
  '/api/v1/auth/signup',
  '/api/v1/auth/login',
  '/api/v1/auth/refresh',
  '/api/v1/auth/web-session',
  '/api/v1/auth/web-session/refresh',
  '/api/v1/auth/web-session/logout',
  '/.well-known/jwks.json',
]);
/** The owning service (coupon, or the gateway's admin routes) checks the admin token itself (docs/api.md). */
const adminPrefix = '/api/v1/admin/';

export function needsAccessToken(path: string): boolean {
  return !anonymousPaths.has(path) && !path.startsWith(adminPrefix);
}

// Dot segments, doubled or encoded slashes and backslashes could make an
// upstream see another path than the one routed here (`/api/v1/me/../../internal`).
const ambiguousPath = /(^|\/)\.\.?(\/|$)|\/\/|%2e|%2f|%5c|\\/i;

export function isAmbiguousPath(path: string): boolean {
  return ambiguousPath.test(path);
}
