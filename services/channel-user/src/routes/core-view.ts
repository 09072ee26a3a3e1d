import { type CoreView, CoreViewSchema, relayedCoreReports } from '@nuri/contracts/operations';
import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import type { UpstreamInstanceState } from '@nuri/platform/upstream';
import Type from 'typebox';
import type { CoreClient } from '../clients/core-client.ts';
import { problems } from './schemas.ts';

// The gateway is the edge: nothing goes from it to the core zone (a
// compromised gateway must find no path there). What it shows of the core —
// instance readiness for GET /health and the operator console, and
// core-payment's read-only reports — it asks channel-user, the channel
// zone's one door to the core, which already probes every core instance and
// holds a core-payment caller token. Only the three reports below are
// relayed, and only as GETs: the gateway's token opens nothing else here.

export interface CoreViewDeps {
  coreUser: Pick<CoreClient, 'instances'>;
  corePayment: Pick<CoreClient, 'instances' | 'request'>;
}

function viewOf(states: readonly UpstreamInstanceState[]): CoreView['services']['core-user'] {
  return states.slice(0, 64).map((state) => ({ url: state.url, ready: state.ready, ...state.process }));
}

/** Any JSON object the core answers; its shape is checked by the gateway against the report's own schema. */
const Report = Type.Object({}, { additionalProperties: true });

export function registerCoreViewRoutes(app: HttpApp, deps: CoreViewDeps): void {
  app.get(
    '/internal/v1/ops/core',
    {
      // Every gateway polls this every second, like a health probe: no access line for it
      // (86,400 a day per gateway at `info`); a failure of it still logs at warn.
      logLevel: 'warn',
      schema: { response: { 200: CoreViewSchema, ...problems(401, 403) } },
    },
    async () => ({
      services: {
        'core-user': viewOf(deps.coreUser.instances()),
        'core-payment': viewOf(deps.corePayment.instances()),
      },
    }),
  );

  for (const [corePath, relayPath] of Object.entries(relayedCoreReports)) {
    app.get(
      relayPath,
      { schema: { response: { 200: Report, ...problems(400, 401, 403, 503) } } },
      async (request, reply) => {
        const query = request.url.indexOf('?');
        const path = query === -1 ? corePath : `${corePath}${request.url.slice(query)}`;
        const answer = await deps.corePayment.request({
          method: 'GET',
          path,
          requestId: request.id,
          retriesMax: 1,
        });
        if (answer.status !== 200 || typeof answer.body !== 'object' || answer.body === null) {
          request.log.warn(
            { path: corePath, status: answer.status },
            'core-payment refused a relayed report',
          );
          throw new AppError('CORE_UNAVAILABLE', 503, 'core-payment did not give its report');
        }
        return reply.send(answer.body);
      },
    );
  }
}

/** What the gateway may call here (authenticate.ts's policy for it). */
export const coreViewRoutes = [
  'GET /internal/v1/ops/core',
  ...Object.values(relayedCoreReports).map((path) => `GET ${path}`),
];
