import type { ServiceDb } from './db/database.ts';
import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  database: Database<ServiceDb>;
}

/**
 * The core-user HTTP app; never listens (server.ts does). So far it serves the
 * platform's health and metrics routes only: its business routes are built
 * by their own issues.
 */
export function buildApp(deps: AppDeps) {
  return createHttpApp({
    name: 'core-user',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
    database: () => deps.database.ping(),
    },
  });
}
