import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { createAdminAuthenticator } from '@nuri/platform/admin-auth';
import { AppError } from '@nuri/platform/errors';
import { acceptJsonBodies, type HttpApp, ProblemSchema } from '@nuri/platform/http';
import { readIdempotencyKey } from '@nuri/platform/idempotency';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminConsole } from '../admin/console.ts';
import { validateReplayBody } from '../admin/dead-letters.ts';
import type { AdminIdempotency } from '../admin/idempotency.ts';
import {
  DlqAnswer,
  DlqQuery,
  KafkaLagAnswer,
  OutboxAnswer,
  PaymentsAnswer,
  RateLimitsAnswer,
  ReconciliationAnswer,
  ReplayAnswer,
  ReplayBody,
  ServicesAnswer,
} from '../admin/schemas.ts';
import type { RateLimiter } from '../rate-limit.ts';

export interface AdminRouteDeps {
  adminToken: string;
  console: AdminConsole;
  idempotency: AdminIdempotency;
  /** The gateway's general limiter: an admin request counts against its IP like any other. */
  rateLimiter: RateLimiter;
}

const refusedAnswers = { 401: ProblemSchema, 403: ProblemSchema, 429: ProblemSchema };

/**
 * The operator console's API (docs/api.md "Operations"): /api/v1/admin/* but the
 * coupon campaigns (coupon's own), answered here behind the admin token,
 * checked in constant time as coupon does. Unknown admin paths are 404 like
 * any other.
 */
export function registerAdminRoutes(app: HttpApp, deps: AdminRouteDeps): void {
  const authenticate = createAdminAuthenticator(deps.adminToken);
  app.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    // The proxy routes keep bodies as bytes; these routes read JSON themselves.
    acceptJsonBodies(scope);
    // Before the body is read: who is asking matters before what they sent.
    scope.addHook('onRequest', (request, _reply, done) => {
      const decision = deps.rateLimiter.hit(request.ip, undefined);
      if (decision.limited) {
        done(
          new AppError('RATE_LIMITED', 429, 'Too many requests; slow down', {
            retryAfterSeconds: decision.retryAfterSeconds,
          }),
        );
        return;
      }
      try {
        authenticate(request.headers.authorization);
        done();
      } catch (error) {
        done(error as Error);
      }
    });

    scope.get(
      '/api/v1/admin/services',
      { schema: { response: { 200: ServicesAnswer, ...refusedAnswers } } },
      async () => deps.console.services(),
    );

    scope.get(
      '/api/v1/admin/kafka/lag',
      { schema: { response: { 200: KafkaLagAnswer, ...refusedAnswers } } },
      async () => deps.console.kafkaLag(),
    );

    scope.get(
      '/api/v1/admin/outbox',
      { schema: { response: { 200: OutboxAnswer, ...refusedAnswers } } },
      async () => deps.console.outbox(),
    );

    scope.get(
      '/api/v1/admin/dlq',
      {
        schema: {
          querystring: DlqQuery,
          response: { 200: DlqAnswer, 400: ProblemSchema, ...refusedAnswers, 503: ProblemSchema },
        },
      },
      async (request) => deps.console.deadLetters.list(request.query.limit),
    );

    scope.post(
      '/api/v1/admin/dlq/replays',
      {
        schema: {
          body: ReplayBody,
          response: {
            200: ReplayAnswer,
            400: ProblemSchema,
            ...refusedAnswers,
            404: ProblemSchema,
            409: ProblemSchema,
            422: ProblemSchema,
            503: ProblemSchema,
          },
        },
      },
      async (request, reply) => {
        validateReplayBody(request.body);
        const key = readIdempotencyKey(request);
        const by = operatorOf(request);
        const { answer, replayed } = await deps.idempotency.once('dlq-replays', key, request.body, () =>
          deps.console.deadLetters.replay(request.body, by),
        );
        if (replayed) return idempotentReplay(reply, answer);
        // The audit line beside the record the library wrote to the replays topic.
        request.log.warn(
          {
            audit: 'dlq-replay',
            by,
            at: new Date().toISOString(),
            again: request.body.again === true,
            all: request.body.all === true,
            replayed: answer.replayed,
            skipped: answer.skipped,
          },
          'dead letters replayed from the operator console',
        );
        return answer;
      },
    );

    scope.get(
      '/api/v1/admin/payments',
      { schema: { response: { 200: PaymentsAnswer, ...refusedAnswers, 503: ProblemSchema } } },
      async () => deps.console.payments(),
    );

    scope.post(
      '/api/v1/admin/reconciliations',
      { schema: { response: { 200: ReconciliationAnswer, ...refusedAnswers } } },
      async () => deps.console.reconcile(),
    );

    scope.get(
      '/api/v1/admin/rate-limits',
      { schema: { response: { 200: RateLimitsAnswer, ...refusedAnswers, 503: ProblemSchema } } },
      async () => deps.console.rateLimits(),
    );
  });
}

/**
 * Who replayed, for the audit: the admin token is shared, so the holder is
 * named by where the request came from and its id (which every log line of
 * the request carries).
 */
function operatorOf(request: FastifyRequest): string {
  return `admin-console ip=${request.ip} request=${request.id}`;
}

function idempotentReplay<T>(reply: FastifyReply, answer: T): T {
  reply.header('idempotent-replayed', 'true');
  return answer;
}
