import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { brokerList, runMain } from '@nuri/platform/service';
import { buildApp } from './app.ts';
import { loadServiceConfig } from './config.ts';
import { openDatabase } from './db/database.ts';

await runMain('point', async () => {
  const config = loadServiceConfig();
  const logger = createLogger({ name: 'point', level: config.NURI_LOG_LEVEL });
  const database = openDatabase(config);
  const app = buildApp({
    logger,
    metrics: createMetrics('point'),
    database,
      kafkaBrokers: brokerList(config.NURI_KAFKA_BROKERS),
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_POINT_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    onShutdown: [() => database.close()],
  });
});
