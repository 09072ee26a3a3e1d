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
 * docs/api.md: no access token on signup, login, refresh and the JWKS (health is not
 * proxied); nor on the web console's cookie login and refresh (web-session).
 */
const anonymousPaths = new Set([
  '/api/v1/auth/signup',
  '/api/v1/auth/login',
  '/api/v1/auth/refresh',
  '/api/v1/auth/web-session',
  '/api/v1/auth/web-session/refresh',
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
