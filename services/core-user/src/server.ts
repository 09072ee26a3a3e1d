import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { runMain } from '@nuri/platform/service';
import { buildApp } from './app.ts';
import { loadServiceConfig, secretsFromConfig } from './config.ts';
import { openDatabase } from './db/database.ts';

await runMain('core-user', async () => {
  const config = loadServiceConfig();
  const logger = createLogger({ name: 'core-user', level: config.NURI_LOG_LEVEL });
  const database = openDatabase(config);
  const app = buildApp({
    logger,
    metrics: createMetrics('core-user'),
    database,
    ...secretsFromConfig(config),
  });
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_CORE_USER_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    onShutdown: [() => database.close()],
  });
});
