import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { runMain } from '@nuri/platform/service';
import { startTracing } from '@nuri/platform/tracing';
import { buildApp, buildUserService } from './app.ts';
import { loadServiceConfig, secretsFromConfig } from './config.ts';
import { openDatabase } from './db/database.ts';

await runMain('core-user', async () => {
  const config = loadServiceConfig();
  startTracing({ serviceName: 'core-user', config });
  const logger = createLogger({ name: 'core-user', level: config.NURI_LOG_LEVEL });
  const database = openDatabase(config);
  const secrets = secretsFromConfig(config);
  const app = buildApp({
    logger,
    metrics: createMetrics('core-user'),
    database,
    ...secrets,
    registrationAttemptsPerHourMax: config.NURI_CORE_USER_REGISTRATION_ATTEMPTS_PER_HOUR,
  });
  logger.info(
    { realNameVerification: 'FORMAT_ONLY' },
    'no 실명확인 agency is configured: a name is checked against its RRN for format only',
  );
  // Every instance runs it: deleting what expired a day ago is idempotent.
  const users = buildUserService({ database, ...secrets });
  const purge = setInterval(() => {
    users
      .purgeExpired()
      .then((deleted) => {
        if (deleted > 0) logger.info({ deleted }, 'expired reservations and attempt counts deleted');
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'purging expired reservations failed'));
  }, 10 * 60_000);
  purge.unref();
  await runServer(app, {
    host: config.NURI_BIND_HOST,
    port: config.NURI_CORE_USER_PORT,
    shutdownTimeoutMs: config.NURI_SHUTDOWN_TIMEOUT_MS,
    instanceRestarts: config.NURI_INSTANCE_RESTARTS,
    onShutdown: [async () => clearInterval(purge), () => database.close()],
  });
});
