import type { HttpApp } from '@nuri/platform/http';
import { Type } from 'typebox';

export interface HealthDeps {
  /** Service name → base URL; each must answer GET /health/ready with 200. */
  upstreams: Record<string, string>;
  /** The gateway's own dependencies (Redis): throws when not ready. */
  checkSelf: () => Promise<void>;
  timeoutMs: number;
}

const ServiceState = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]);
const HealthBody = Type.Object({
  status: ServiceState,
  services: Type.Record(Type.String(), ServiceState),
});

/**
 * GET /health: 200 when the gateway and every service behind it are ready,
 * 503 with the same shape naming the ones that are not (API.md). The probes
 * run in parallel, each bounded, so one hung service costs one timeout.
 */
export function registerHealthRoute(app: HttpApp, deps: HealthDeps): void {
  app.get(
    '/health',
    { schema: { response: { 200: HealthBody, 503: HealthBody } } },
    async (request, reply) => {
      const names = ['gateway', ...Object.keys(deps.upstreams)];
      const results = await Promise.allSettled([
        deps.checkSelf(),
        ...Object.values(deps.upstreams).map((url) => probeReady(url, deps.timeoutMs)),
      ]);
      const services: Record<string, 'ok' | 'unavailable'> = {};
      results.forEach((result, index) => {
        const name = names[index]!;
        services[name] = result.status === 'fulfilled' ? 'ok' : 'unavailable';
        if (result.status === 'rejected')
          request.log.info({ upstream: name, reason: String(result.reason) }, 'not ready');
      });
      const allReady = Object.values(services).every((state) => state === 'ok');
      return reply.code(allReady ? 200 : 503).send({ status: allReady ? 'ok' : 'unavailable', services });
    },
  );
}

async function probeReady(baseUrl: string, timeoutMs: number): Promise<void> {
  const response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`answered ${response.status}`);
}
