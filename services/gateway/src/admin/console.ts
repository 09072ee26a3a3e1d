import {
  type OutboxBacklogAnswer,
  OutboxBacklogSchema,
  type PaymentsOverview,
  PaymentsOverviewSchema,
} from '@nuri/contracts/operations';
import { AppError } from '@nuri/platform/errors';
import { readConsumerLag } from '@nuri/platform/kafka/lag';
import type { Logger } from '@nuri/platform/logger';
import { gatherReconciliation, type ServiceChecks } from '@nuri/platform/reconciliation';
import type { Upstream } from '@nuri/platform/upstream';
import type { ServiceName } from '../config.ts';
import { createDeadLetterDesk, type DeadLetterDesk } from './dead-letters.ts';
import { describeServices, type GatewaySelf } from './instances.ts';
import type { RefusalCounter } from './refusals.ts';
import type { OutboxItem, ReconciliationAnswer, ServicesAnswer } from './schemas.ts';
import { type ReportingService, readChecked, type ServiceReports } from './service-reports.ts';

// The use cases behind the operator console's API (routes/admin.ts): each
// gathers from the owners of the data — the gateway's own probes, the
// services' internal reports, the broker, Redis — within a time bound, and
// says which source could not be asked rather than failing as a whole.

/** The services that keep a transactional outbox (packages/platform/src/kafka/outbox.ts). */
export const outboxServices: readonly ReportingService[] = ['channel-user', 'core-payment', 'point'];

/** The gateway's limiters (server.ts): requests per IP and per user, and per IP per minute of three routes. */
export const gatewayLimiters = ['general', 'signup', 'login', 'health'] as const;

/** A check's findings are listed in its detail up to this length. */
const checkDetailLengthMax = 2_000;

export interface AdminConsoleOptions {
  services: Readonly<Record<ServiceName, Upstream>>;
  gateways: Upstream | undefined;
  self: GatewaySelf;
  reports: ServiceReports;
  refusals: RefusalCounter;
  kafka: {
    brokers: string[];
    topicPrefix: string;
    groups: ReadonlyArray<{ group: string; topics: string[] }>;
  };
  timeoutMs: number;
  logger: Logger;
}

export type AdminConsole = ReturnType<typeof createAdminConsole>;

export function createAdminConsole(options: AdminConsoleOptions) {
  const { reports, timeoutMs, logger } = options;
  const deadLetters: DeadLetterDesk = createDeadLetterDesk({
    brokers: options.kafka.brokers,
    topicPrefix: options.kafka.topicPrefix,
    timeoutMs,
    logger,
  });

  return {
    deadLetters,

    async services(): Promise<ServicesAnswer> {
      const upstreams = Object.values(options.services);
      if (options.gateways !== undefined) upstreams.push(options.gateways);
      // Right after start the first round of probes is still out (each bounded by the probe timeout).
      await Promise.all(upstreams.map((upstream) => upstream.firstProbe()));
      const states = Object.fromEntries(
        Object.entries(options.services).map(([name, upstream]) => [name, upstream.instances()]),
      ) as Record<ServiceName, ReturnType<Upstream['instances']>>;
      return { items: describeServices(states, options.gateways?.instances(), options.self) };
    },

    kafkaLag() {
      return readConsumerLag(options.kafka.brokers, options.kafka.groups, {
        timeoutMs,
        clientId: 'gateway-admin-lag',
      });
    },

    async outbox(): Promise<{ items: OutboxItem[] }> {
      const items = await Promise.all(
        outboxServices.map(async (service): Promise<OutboxItem> => {
          try {
            const backlog = await readChecked<OutboxBacklogAnswer>(
              reports,
              service,
              '/internal/v1/ops/outbox',
              OutboxBacklogSchema,
            );
            return { service, reachable: true, ...backlog };
          } catch {
            return { service, reachable: false, pending: null, oldestAgeSeconds: null };
          }
        }),
      );
      return { items };
    },

    async payments() {
      try {
        return await readChecked<PaymentsOverview>(
          reports,
          'point',
          '/internal/v1/ops/payments',
          PaymentsOverviewSchema,
        );
      } catch {
        // Why is in the log (service-reports.ts); the answer says only who.
        throw new AppError('UPSTREAM_UNAVAILABLE', 503, 'point could not be asked; retry shortly', {
          service: 'point',
        });
      }
    },

    async reconcile(now = new Date()): Promise<ReconciliationAnswer> {
      const sections = await gatherReconciliation(
        (service, path) => reports.read(service, path),
        now.getTime(),
      );
      return reconciliationAnswer(sections, now);
    },

    async rateLimits() {
      try {
        return { windowSeconds: 3600 as const, items: await options.refusals.read(gatewayLimiters) };
      } catch (error) {
        logger.warn({ err: error }, 'rate-limit refusals could not be read from Redis');
        throw new AppError('REDIS_UNAVAILABLE', 503, 'The refusal counts could not be read; retry shortly');
      }
    },
  };
}

/** The reconciliation as the console shows it: a section per service, a service not asked is a failed check. */
export function reconciliationAnswer(sections: readonly ServiceChecks[], ranAt: Date): ReconciliationAnswer {
  const services = sections.map((section) => ({
    service: section.service,
    checks:
      section.unreachable !== undefined
        ? [
            {
              name: 'the service answered',
              ok: false,
              detail: 'it could not be asked (unavailable or too slow)',
            },
          ]
        : section.checks.map((check) => ({
            name: check.label,
            ok: check.ok,
            detail: [check.summary, ...check.findings].join('\n').slice(0, checkDetailLengthMax),
          })),
  }));
  return {
    ok: services.every((service) => service.checks.every((check) => check.ok)),
    ranAt: ranAt.toISOString(),
    services,
  };
}
