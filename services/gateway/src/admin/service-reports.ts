import { setErrorName } from '@nuri/platform/errors';
import type { Logger } from '@nuri/platform/logger';
import type { Upstream } from '@nuri/platform/upstream';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

// The operator console's reports come from the services that own the data,
// over their internal routes (never a database of theirs), with the gateway's
// own caller token: each service lets that token read its reports and nothing
// else (their internalRoutePolicy). Every call is bounded in time, and is
// "health-neutral": an operator's slow report timing out never takes an
// instance out of customer traffic.

export type ReportingService = 'core-payment' | 'channel-user' | 'point' | 'coupon';

export interface ServiceReports {
  /**
   * GET `path` (with its query) from any ready instance of `service`; the
   * parsed JSON of a 200, else a rejection that names the service (for the
   * log) — callers show only that the service could not be asked.
   */
  read(service: ReportingService, path: string): Promise<Record<string, unknown>>;
}

export class ServiceUnreachableError extends Error {
  readonly service: string;
  constructor(service: string, reason: string) {
    super(`${service} could not be asked: ${reason}`);
    setErrorName(this, 'ServiceUnreachableError');
    this.service = service;
  }
}

export function createServiceReports(options: {
  upstreams: Readonly<Record<ReportingService, Upstream>>;
  /** The gateway's caller token (NURI_INTERNAL_TOKEN). */
  token: string;
  timeoutMs: number;
  logger: Logger;
}): ServiceReports {
  return {
    async read(service, path) {
      let answer: Awaited<ReturnType<Upstream['request']>>;
      try {
        answer = await options.upstreams[service].request({
          method: 'GET',
          path,
          headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
          deadlineMs: options.timeoutMs,
          // A report changes nothing: reading it twice is safe.
          retriesMax: 1,
          healthNeutral: true,
        });
      } catch (error) {
        options.logger.warn({ err: error, service }, 'a service report could not be read');
        throw new ServiceUnreachableError(service, error instanceof Error ? error.message : String(error));
      }
      if (answer.status !== 200) {
        options.logger.warn({ service, status: answer.status }, 'a service refused its report');
        throw new ServiceUnreachableError(service, `answered ${answer.status}`);
      }
      try {
        return JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new ServiceUnreachableError(service, 'answered something that is not JSON');
      }
    },
  };
}

/** Reads a report and checks it against its schema: an answer of another shape is no answer. */
export async function readChecked<T>(
  reports: ServiceReports,
  service: ReportingService,
  path: string,
  schema: TSchema,
): Promise<T> {
  const report = await reports.read(service, path);
  if (!checkerOf(schema).Check(report)) {
    throw new ServiceUnreachableError(service, `answered ${path.split('?')[0]} in another shape`);
  }
  return report as T;
}

const checkers = new WeakMap<TSchema, ReturnType<typeof Compile>>();

function checkerOf(schema: TSchema): ReturnType<typeof Compile> {
  let checker = checkers.get(schema);
  if (checker === undefined) {
    checker = Compile(schema);
    checkers.set(schema, checker);
  }
  return checker;
}
