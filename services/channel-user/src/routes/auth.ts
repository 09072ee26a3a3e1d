import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
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

export function registerAuthRoutes(app: HttpApp, deps: AuthDeps, issuer: AccessTokenIssuer): void {
  app.post(
    '/api/v1/auth/signup',
    { schema: { body: SignupBody, response: { 201: SignupResponse, ...problems(400, 409, 413, 503) } } },
    async (request, reply) => {
      const profile = await signUp(deps, request.body, request.id);
      request.log.info({ userUuid: profile.userUuid }, 'signed up');
      return reply.code(201).send(profile);
    },
  );

  app.post(
    '/api/v1/auth/login',
    { schema: { body: LoginBody, response: { 200: TokenPairSchema, ...problems(400, 401, 423, 429) } } },
    async (request, reply) =>
      logIn(deps, request.body.loginId, request.body.password).catch((error: unknown) => {
        if (error instanceof AppError && error.status === 429) reply.header('retry-after', '1');
        throw error;
      }),
  );

  app.post(
    '/api/v1/auth/refresh',
    { schema: { body: RefreshTokenBody, response: { 200: TokenPairSchema, ...problems(400, 401) } } },
    async (request) => refresh(deps, request.body.refreshToken),
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
