import { AppError } from '@nuri/platform/errors';
import { type HttpApp, ProblemSchema } from '@nuri/platform/http';
import type { Upstream } from '@nuri/platform/upstream';
import { Type } from 'typebox';
import type { RateLimiter } from '../rate-limit.ts';

export interface HealthDeps {
  /** Every service behind the gateway, core included; each instance is probed in the background (upstream.ts). */
  services: Readonly<Record<string, Upstream>>;
  /** Every gateway instance, this one included, when there are several; absent: this one alone. */
  gateways: Upstream | undefined;
  /** Health checks per client IP per minute (it is public and unauthenticated). */
  limiter: RateLimiter;
}

const ServiceState = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]);
const InstanceCount = Type.Object({ ready: Type.Integer(), total: Type.Integer() });
const HealthBody = Type.Object({
  status: ServiceState,
  services: Type.Record(Type.String(), ServiceState),
  instances: Type.Record(Type.String(), InstanceCount),
});

/**
 * GET /health: 200 when the gateway and every service behind it have at least
 * one ready instance, 503 with the same shape naming the ones that have none
 * (docs/api.md). It answers from the probes the gateway runs anyway to balance
 * (each instance once a second), so a flood of health checks costs no
 * request to any service.
 */
export function registerHealthRoute(app: HttpApp, deps: HealthDeps): void {
  const upstreams = Object.values(deps.services);
  if (deps.gateways !== undefined) upstreams.push(deps.gateways);
  app.get(
    '/health',
    { schema: { response: { 200: HealthBody, 503: HealthBody, 429: ProblemSchema } } },
    async (request, reply) => {
      const decision = deps.limiter.hit(request.ip, undefined);
      if (decision.limited) {
        throw new AppError('RATE_LIMITED', 429, 'Too many health checks; slow down', {
          retryAfterSeconds: decision.retryAfterSeconds,
        });
      }
      // Right after start the first round of probes is still out; wait for it rather than guess.
      await Promise.all(upstreams.map((upstream) => upstream.firstProbe()));
      const instances: Record<string, { ready: number; total: number }> = {
        gateway:
          deps.gateways === undefined
            ? { ready: 1, total: 1 }
            : { ready: deps.gateways.readyCount(), total: deps.gateways.instances().length },
      };
      for (const [name, upstream] of Object.entries(deps.services)) {
        instances[name] = { ready: upstream.readyCount(), total: upstream.instances().length };
      }
      const services: Record<string, 'ok' | 'unavailable'> = {};
      for (const [name, count] of Object.entries(instances)) {
        // This instance is answering, so the gateway has at least one, whatever the probes saw.
        services[name] = count.ready > 0 || name === 'gateway' ? 'ok' : 'unavailable';
      }
      const allReady = Object.values(services).every((state) => state === 'ok');
      return reply
        .code(allReady ? 200 : 503)
        .send({ status: allReady ? 'ok' : 'unavailable', services, instances });
    },
  );
}
