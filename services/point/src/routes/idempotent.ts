import type { IdempotencyStore } from '@nuri/platform/idempotency';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The platform store replays a stored body as `unknown`; it is the body this
 * route produced the first time (errors are re-thrown, not returned), so it
 * is typed as the route's success body for the response schema's sake.
 */
export async function respondIdempotently<Body>(
  idempotency: IdempotencyStore,
  request: FastifyRequest,
  reply: FastifyReply,
  userUuid: string,
  statusCode: number,
  execute: (operationId: string) => Promise<Body>,
): Promise<Body> {
  const body = await idempotency.handle(request, reply, userUuid, async (operationId) => ({
    statusCode,
    body: await execute(operationId),
  }));
  return body as Body;
}
