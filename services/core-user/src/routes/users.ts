import { IdentityInput, parseIdentity } from '@nuri/contracts/identity';
import { AppError } from '@nuri/platform/errors';
import { type HttpApp, ProblemSchema } from '@nuri/platform/http';
import Type from 'typebox';
import type { UserService } from '../domain/users.ts';

// Any UUID syntax is accepted (we issue v7, but lookup must not care); the
// rest of a malformed id is refused before it reaches the database.
const UserUuid = Type.String({
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
});

const MaskedUser = Type.Object({
  userUuid: Type.String(),
  maskedName: Type.String(),
  maskedRrn: Type.String(),
  maskedPhone: Type.Union([Type.String(), Type.Null()]),
});

const UserParams = Type.Object({ userUuid: UserUuid });

const Registration = Type.Object({
  ...MaskedUser.properties,
  /** RESERVED until POST …/confirm (channel-user created the login), or it expires. */
  status: Type.Union([Type.Literal('RESERVED'), Type.Literal('CONFIRMED')]),
});

const registerSchema = {
  body: IdentityInput,
  response: {
    200: Registration,
    201: Registration,
    400: ProblemSchema,
    401: ProblemSchema,
    409: ProblemSchema,
    429: ProblemSchema,
  },
};

const getSchema = {
  params: UserParams,
  response: { 200: MaskedUser, 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
};

/** Internal routes of the real-name registry; the internal-token guard is registered by the app. */
export function registerUserRoutes(app: HttpApp, users: UserService): void {
  app.post('/internal/v1/users', { schema: registerSchema }, async (request, reply) => {
    const parsed = parseIdentity(request.body);
    // The detail names the field and its rule; the value is PII and never echoed.
    if (!parsed.ok) throw new AppError('VALIDATION_FAILED', 400, `body/${parsed.field} ${parsed.problem}`);
    const { outcome, status, user } = await users.registerUser(parsed.value);
    request.log.info({ userUuid: user.userUuid, outcome, status }, 'real-name registration');
    return reply.code(outcome === 'created' ? 201 : 200).send({ ...user, status });
  });

  app.post(
    '/internal/v1/users/:userUuid/confirm',
    {
      schema: {
        params: UserParams,
        response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      await users.confirmUser(request.params.userUuid.toLowerCase());
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/internal/v1/users/:userUuid/reservation',
    {
      schema: { params: UserParams, response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema } },
    },
    async (request, reply) => {
      await users.releaseReservation(request.params.userUuid.toLowerCase());
      return reply.code(204).send(null);
    },
  );

  app.get('/internal/v1/users/:userUuid', { schema: getSchema }, async (request) => {
    return users.getUser(request.params.userUuid.toLowerCase());
  });
}
