import { type TProperties, Type } from 'typebox';
import { ConfigError } from './config.ts';
import { createMysqlDatabase, createPgDatabase, type Database } from './db.ts';
import { redactString } from './masking.ts';
import { tracingConfig } from './tracing.ts';

// Schema fragments that every service's config.ts composes with its own
// variables, so the same variable means the same thing in every process.

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function portVariable(defaultPort: number) {
  return Type.Integer({ default: defaultPort, minimum: 1, maximum: 65_535 });
}

export const commonConfig = {
  /** Loopback by default: nothing is exposed unless an operator says so. */
  NURI_BIND_HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  NURI_LOG_LEVEL: Type.Union(
    logLevels.map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
  NURI_SHUTDOWN_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 120_000 }),
  /**
   * Set by the local supervisor: how often this instance was restarted before
   * this process. Shown by /health/ready (and so in the operator console);
   * absent where nobody counts (Kubernetes reports its own restarts).
   */
  NURI_INSTANCE_RESTARTS: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  /** OpenTelemetry's own variables (tracing.ts): tracing is off unless one asks for an exporter. */
  ...tracingConfig,
} satisfies TProperties;

export const postgresConfig = {
  NURI_PG_URL: Type.String({
    default: 'postgres://postgres@127.0.0.1:5432/postgres',
    pattern: '^postgres(ql)?://',
  }),
  NURI_PG_POOL_SIZE_MAX: Type.Integer({ default: 10, minimum: 1, maximum: 200 }),
  NURI_PG_STATEMENT_TIMEOUT_MS: Type.Integer({ default: 5_000, minimum: 100, maximum: 600_000 }),
} satisfies TProperties;

export const mysqlConfig = {
  NURI_MYSQL_URL: Type.String({ default: 'mysql://root@127.0.0.1:3306', pattern: '^(mysql|mariadb)://' }),
  NURI_MYSQL_POOL_SIZE_MAX: Type.Integer({ default: 10, minimum: 1, maximum: 200 }),
  NURI_MYSQL_STATEMENT_TIMEOUT_MS: Type.Integer({ default: 5_000, minimum: 100, maximum: 600_000 }),
} satisfies TProperties;

export const redisConfig = {
  NURI_REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379', pattern: '^rediss?://' }),
} satisfies TProperties;

export const kafkaConfig = {
  NURI_KAFKA_BROKERS: Type.String({ default: '127.0.0.1:9092', pattern: '^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$' }),
  /**
   * Prepended to every topic name (e.g. `e2e.3f9a.`): lets an isolated system
   * (an end-to-end run, a second environment on one cluster) share a broker
   * without reading another's events. Empty in production.
   */
  NURI_KAFKA_TOPIC_PREFIX: Type.String({ default: '', pattern: '^([a-z0-9][a-z0-9_-]{0,40}\\.)*$' }),
} satisfies TProperties;

/** The same topic map with the prefix in front of every name. */
export function prefixTopics<Topics extends { [Role in keyof Topics]: string }>(
  topics: Topics,
  prefix: string,
): Topics {
  return Object.fromEntries(
    Object.entries(topics as Record<string, string>).map(([role, name]) => [role, `${prefix}${name}`]),
  ) as Topics;
}

/**
 * A service's address as its callers see it: one base URL (a Kubernetes
 * Service, a load balancer), or one per instance, comma separated (the local
 * supervisor's `--scale`). Callers balance over the list (upstream.ts).
 */
export function upstreamUrlsVariable(defaultUrl: string) {
  return Type.String({ default: defaultUrl, pattern: '^https?://[^/\\s,]+(,https?://[^/\\s,]+)*$' });
}

export function brokerList(brokers: string): string[] {
  return brokers.split(',');
}

/** The server URL with its database replaced: services share one server URL and own one database each. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Runs a service's main. A configuration error prints its message (which
 * names the variables) and exits 1 before anything listens; any other
 * start-up failure prints a redacted stack and exits 1.
 */
export async function runMain(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    const message =
      error instanceof ConfigError
        ? error.message
        : `failed to start: ${redactString(error instanceof Error ? (error.stack ?? error.message) : String(error))}`;
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(1);
  }
}

/** Opens a service's PostgreSQL database with the limits from its config. */
export function openPostgres<DB>(
  config: { NURI_PG_URL: string; NURI_PG_POOL_SIZE_MAX: number; NURI_PG_STATEMENT_TIMEOUT_MS: number },
  database: string,
  applicationName: string,
): Database<DB> {
  return createPgDatabase<DB>({
    url: databaseUrl(config.NURI_PG_URL, database),
    poolSizeMax: config.NURI_PG_POOL_SIZE_MAX,
    connectionTimeoutMs: databaseConnectTimeoutMs,
    statementTimeoutMs: config.NURI_PG_STATEMENT_TIMEOUT_MS,
    applicationName,
  });
}

/** Opens a service's MariaDB/MySQL database with the limits from its config. */
export function openMysql<DB>(
  config: {
    NURI_MYSQL_URL: string;
    NURI_MYSQL_POOL_SIZE_MAX: number;
    NURI_MYSQL_STATEMENT_TIMEOUT_MS: number;
  },
  database: string,
): Database<DB> {
  return createMysqlDatabase<DB>({
    url: databaseUrl(config.NURI_MYSQL_URL, database),
    poolSizeMax: config.NURI_MYSQL_POOL_SIZE_MAX,
    connectTimeoutMs: databaseConnectTimeoutMs,
    statementTimeoutMs: config.NURI_MYSQL_STATEMENT_TIMEOUT_MS,
  });
}

const databaseConnectTimeoutMs = 2_000;
