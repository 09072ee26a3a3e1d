import type { ServiceDb } from './db/database.ts';
import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import { waitForBroker } from '@nuri/platform/kafka/admin';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { type Redis, redisReadinessCheck } from '@nuri/platform/redis';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  database: Database<ServiceDb>;
  kafkaBrokers: string[];
  redis: Redis;
}

const readinessTimeoutMs = 1_000;

/**
 * The coupon HTTP app; never listens (server.ts does). So far it serves the
 * platform's health and metrics routes only: its business routes are built
 * by their own issues.
 */
export function buildApp(deps: AppDeps) {
  return createHttpApp({
    name: 'coupon',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
    database: () => deps.database.ping(),
    kafka: () => waitForBroker(deps.kafkaBrokers, readinessTimeoutMs),
    redis: () => redisReadinessCheck(deps.redis),
    },
  });
}
