import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { type AuthDeps, logOutSession, refresh } from '../domain/auth.ts';
import { logInFrom } from './auth.ts';
import { LoginBody, problems } from './schemas.ts';

// The web console's session (docs/console.md): the access token lives only in
// the page's memory; the refresh token lives in this cookie, which script
// cannot read (HttpOnly), no other site's page can make the browser send
// (SameSite=Strict), and only these routes receive (Path). Refresh and logout
// also need the x-nuri-web header: a cross-origin page cannot add it without a
// CORS preflight, which nothing here grants.
const cookieName = 'nuri_refresh';
const cookiePath = '/api/v1/auth/web-session';
const webHeader = 'x-nuri-web';
const refreshTokenPattern = /^[A-Za-z0-9_-]{16,256}$/;

const WebSessionSchema = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer(),
});

function sessionCookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  // Secure when the client reached the gateway over HTTPS (the gateway sets
  // x-forwarded-proto; a plain-HTTP localhost would never send a Secure cookie back).
  const secure = request.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
  return `${cookieName}=${value}; Path=${cookiePath}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

/** The refresh token from the Cookie header, or undefined when absent or not shaped like one. */
export function refreshTokenOf(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined || cookieHeader.length > 8_192) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== cookieName) continue;
    const value = part.slice(eq + 1).trim();
    return refreshTokenPattern.test(value) ? value : undefined;
  }
  return undefined;
}

function requireWebHeader(request: FastifyRequest): void {
  if (request.headers[webHeader] !== '1')
    throw new AppError('VALIDATION_FAILED', 400, `The ${webHeader}: 1 header is required`);
}

function sessionExpired(request: FastifyRequest, reply: FastifyReply): AppError {
  reply.header('set-cookie', sessionCookie(request, '', 0));
  return new AppError('UNAUTHENTICATED', 401, 'The session has ended; log in again');
}

export function registerWebSessionRoutes(app: HttpApp, deps: AuthDeps): void {
  app.post(
    '/api/v1/auth/web-session',
    {
      schema: { body: LoginBody, response: { 200: WebSessionSchema, ...problems(400, 401, 423, 429, 503) } },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const pair = await logInFrom(deps, request, request.body);
      reply.header('set-cookie', sessionCookie(request, pair.refreshToken, deps.refreshTokenTtlSeconds));
      return { accessToken: pair.accessToken, tokenType: pair.tokenType, expiresIn: pair.expiresIn };
    },
  );

  app.post(
    '/api/v1/auth/web-session/refresh',
    { schema: { response: { 200: WebSessionSchema, ...problems(400, 401, 503) } } },
    async (request, reply) => {
      requireWebHeader(request);
      reply.header('cache-control', 'no-store');
      const token = refreshTokenOf(request.headers.cookie);
      if (token === undefined) throw sessionExpired(request, reply);
      // A dead session ends here; an outage (503) is not one and keeps the cookie.
      const pair = await refresh(deps, token).catch((error: unknown) => {
        if (error instanceof AppError && error.status === 401) throw sessionExpired(request, reply);
        throw error;
      });
      reply.header('set-cookie', sessionCookie(request, pair.refreshToken, deps.refreshTokenTtlSeconds));
      return { accessToken: pair.accessToken, tokenType: pair.tokenType, expiresIn: pair.expiresIn };
    },
  );

  app.post(
    '/api/v1/auth/web-session/logout',
    { schema: { response: { 204: Type.Null(), ...problems(400, 503) } } },
    async (request, reply) => {
      requireWebHeader(request);
      // No access token needed: one that expired while the tab slept must not
      // leave the session alive behind a "logged out" console. The cookie's
      // token, which only this browser holds, names the family to revoke.
      const token = refreshTokenOf(request.headers.cookie);
      if (token !== undefined) await logOutSession(deps, token);
      reply.header('set-cookie', sessionCookie(request, '', 0));
      return reply.code(204).send(null);
    },
  );
}
