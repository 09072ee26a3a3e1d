import { thisInstance } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import type { Redis } from '@nuri/platform/redis';
import { brokerList } from '@nuri/platform/service';
import type { Upstream } from '@nuri/platform/upstream';
import { type Config, consumerGroupsOf, type ServiceName } from '../config.ts';
import type { AdminRouteDeps } from '../routes/admin.ts';
import { createAdminConsole } from './console.ts';
import { createAdminIdempotency } from './idempotency.ts';
import type { RefusalCounter } from './refusals.ts';
import { createServiceReports } from './service-reports.ts';

export { countingRefusals, createRefusalCounter } from './refusals.ts';

/** The operator console's API as server.ts wires it from the config (routes/admin.ts takes the rest). */
export function adminDepsOf(
  config: Config,
  parts: {
    services: Readonly<Record<ServiceName, Upstream>>;
    gateways: Upstream | undefined;
    redis: Redis;
    refusals: RefusalCounter;
    logger: Logger;
  },
): Omit<AdminRouteDeps, 'rateLimiter'> {
  const timeoutMs = config.NURI_GATEWAY_ADMIN_TIMEOUT_MS;
  const ownPort =
    config.NURI_GATEWAY_OPS_PORT === 0 ? config.NURI_GATEWAY_PORT : config.NURI_GATEWAY_OPS_PORT;
  return {
    adminToken: config.NURI_ADMIN_TOKEN,
    idempotency: createAdminIdempotency(parts.redis),
    console: createAdminConsole({
      services: parts.services,
      gateways: parts.gateways,
      // As the peers list names it (topology.ts): this instance's own port.
      self: {
        url: `http://${config.NURI_BIND_HOST}:${ownPort}`,
        process: thisInstance(config.NURI_INSTANCE_RESTARTS),
      },
      reports: createServiceReports({
        upstreams: parts.services,
        token: config.NURI_INTERNAL_TOKEN,
        timeoutMs,
        logger: parts.logger,
      }),
      refusals: parts.refusals,
      kafka: {
        brokers: brokerList(config.NURI_KAFKA_BROKERS),
        topicPrefix: config.NURI_KAFKA_TOPIC_PREFIX,
        groups: consumerGroupsOf(config),
      },
      timeoutMs,
      logger: parts.logger,
    }),
  };
}
