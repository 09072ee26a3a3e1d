import { type CoreView, CoreViewSchema, relayedCoreReports } from '@nuri/contracts/operations';
import type { Logger } from '@nuri/platform/logger';
import {
  type Upstream,
  type UpstreamAnswer,
  type UpstreamInstanceState,
  UpstreamUnavailableError,
} from '@nuri/platform/upstream';
import { Compile } from 'typebox/compile';

// The core zone as the gateway sees it: through channel-user, never directly
// (channel-user's routes/core-view.ts says why). Each core service looks like
// an Upstream to the rest of the gateway — GET /health and the operator
// console count its instances, the console's reports read core-payment's —
// but its instances are channel-user's probe results, polled here, and its
// requests are core-payment's relayed reports and nothing else.

type CoreName = 'core-user' | 'core-payment';

export interface CoreViewOptions {
  /** channel-user's instances (the gateway's forwarding upstream). */
  channelUser: Upstream;
  /** The gateway's internal caller token. */
  token: string;
  /** How often the view is refreshed (the gateway's own probe interval). */
  intervalMs: number;
  /** Per poll and per relayed report. */
  timeoutMs: number;
  logger: Logger;
}

const isCoreView = Compile(CoreViewSchema);

/**
 * Instances are shown not ready once the view is older than this many
 * intervals: with no channel-user to ask, the gateway cannot tell that the
 * core is up, and says so rather than repeat an old answer.
 */
const staleAfterIntervals = 3;

export function createCoreView(options: CoreViewOptions): Record<CoreName, Upstream> {
  let view: CoreView['services'] | undefined;
  let viewAt = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resolveFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => {
    resolveFirst = resolve;
  });
  const headers = { authorization: `Bearer ${options.token}`, accept: 'application/json' };

  const poll = async () => {
    try {
      const answer = await options.channelUser.request({
        method: 'GET',
        path: '/internal/v1/ops/core',
        headers,
        deadlineMs: options.timeoutMs,
        retriesMax: 1,
        healthNeutral: true,
      });
      const body: unknown = answer.status === 200 ? JSON.parse(answer.body.toString('utf8')) : undefined;
      if (isCoreView.Check(body)) {
        view = body.services;
        viewAt = Date.now();
      } else options.logger.warn({ status: answer.status }, 'channel-user gave no view of the core');
    } catch (error) {
      options.logger.debug({ err: error }, 'the view of the core could not be refreshed');
    } finally {
      resolveFirst();
      if (!closed) timer = setTimeout(poll, options.intervalMs);
    }
  };
  void poll();

  const instancesOf = (name: CoreName): UpstreamInstanceState[] => {
    const fresh = Date.now() - viewAt <= options.intervalMs * staleAfterIntervals + options.timeoutMs;
    return (view?.[name] ?? []).map(({ url, ready, ...process }) => ({
      url,
      ready: ready && fresh,
      outstanding: 0,
      ...(process.pid === undefined || process.startedAt === undefined
        ? {}
        : {
            process: {
              pid: process.pid,
              startedAt: process.startedAt,
              ...(process.restarts === undefined ? {} : { restarts: process.restarts }),
            },
          }),
    }));
  };

  const upstreamOf = (name: CoreName): Upstream => ({
    name,
    instances: () => instancesOf(name),
    readyCount: () => instancesOf(name).filter((instance) => instance.ready).length,
    firstProbe: () => first,
    async request(request): Promise<UpstreamAnswer> {
      const query = request.path.indexOf('?');
      const path = query === -1 ? request.path : request.path.slice(0, query);
      const relayed =
        name === 'core-payment' && request.method === 'GET' ? relayedCoreReports[path] : undefined;
      if (relayed === undefined)
        throw new UpstreamUnavailableError(
          name,
          'unavailable',
          `the gateway does not call ${name} (${path})`,
        );
      return options.channelUser.request({
        ...request,
        path: query === -1 ? relayed : `${relayed}${request.path.slice(query)}`,
      });
    },
    async close() {
      closed = true;
      clearTimeout(timer);
    },
  });
  return { 'core-user': upstreamOf('core-user'), 'core-payment': upstreamOf('core-payment') };
}
