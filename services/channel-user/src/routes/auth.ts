import { clientKey } from '@nuri/platform/client-address';
import type { HttpApp } from '@nuri/platform/http';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { AccessTokenIssuer } from '../auth/access-tokens.ts';
import { type AuthDeps, getProfile, logIn, logOut, refresh, signUp } from '../domain/auth.ts';
import { userOf } from './authenticate.ts';
import {
  JwksSchema,
  LoginBody,
  ProfileSchema,
  problems,
  RefreshTokenBody,
  SignupBody,
  SignupResponse,
  TokenPairSchema,
} from './schemas.ts';

/**
 * Who is asking: the client address the gateway forwards (x-forwarded-for;
 * channel-user is reachable only through the gateway and the internal network),
 * an IPv6 address by its /64 — one household or host, not one of its many
 * addresses. Lockouts are counted per client so a stranger's guesses lock the
 * stranger, not the owner.
 */
export function clientOf(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return clientKey(first !== undefined && first !== '' ? first : request.ip);
}

/** logIn for this request's client (a 429 or 503 carries its Retry-After through the error handler). */
export function logInFrom(
  deps: AuthDeps,
  request: FastifyRequest,
  body: { loginId: string; password: string },
) {
  return logIn(deps, body.loginId, body.password, clientOf(request));
}

export function registerAuthRoutes(app: HttpApp, deps: AuthDeps, issuer: AccessTokenIssuer): void {
  app.post(
    '/api/v1/auth/signup',
    { schema: { body: SignupBody, response: { 201: SignupResponse, ...problems(400, 409, 413, 429, 503) } } },
    async (request, reply) => {
      const profile = await signUp(deps, request.body, request.id);
      request.log.info({ userUuid: profile.userUuid }, 'signed up');
      return reply.code(201).send(profile);
    },
  );

  app.post(
    '/api/v1/auth/login',
    { schema: { body: LoginBody, response: { 200: TokenPairSchema, ...problems(400, 401, 423, 429, 503) } } },
    async (request, reply) => {
      // No token response is ever cached (RFC 6749 §5.1).
      reply.header('cache-control', 'no-store');
      return logInFrom(deps, request, request.body);
    },
  );

  app.post(
    '/api/v1/auth/refresh',
    { schema: { body: RefreshTokenBody, response: { 200: TokenPairSchema, ...problems(400, 401) } } },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return refresh(deps, request.body.refreshToken);
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { schema: { body: RefreshTokenBody, response: { 204: Type.Null(), ...problems(400, 401) } } },
    async (request, reply) => {
      await logOut(deps, userOf(request), request.body.refreshToken);
      return reply.code(204).send(null);
    },
  );

  app.get('/api/v1/me', { schema: { response: { 200: ProfileSchema, ...problems(401) } } }, async (request) =>
    getProfile(deps, userOf(request)),
  );

  app.get(
    '/.well-known/jwks.json',
    { schema: { response: { 200: JwksSchema } } },
    async (_request, reply) => {
      // Verifiers cache the set; a new key is published before it signs (rotation), so minutes are fine.
      reply.header('cache-control', 'public, max-age=300');
      return issuer.jwks();
    },
  );
}
