import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type IsolationLevel,
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  MysqlDialect,
  PostgresDialect,
  type QueryResult,
  sql,
  type Transaction,
} from 'kysely';
import { createPool as createMysqlPool } from 'mysql2';
import { createConnection as createMysqlConnection } from 'mysql2/promise';
import pg from 'pg';
import type { Logger } from 'pino';
import { setErrorName } from './errors.ts';
import { endSpan, insideTrace, SpanKind, startSpan, tracingEnabled } from './tracing.ts';

export type { Migration } from 'kysely';

export type DatabaseDialect = 'postgres' | 'mysql';

export interface Database<DB> {
  db: Kysely<DB>;
  dialect: DatabaseDialect;
  close(): Promise<void>;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
}

export interface PgDatabaseOptions {
  url: string;
  poolSizeMax: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  idleTimeoutMs?: number;
  /** Receives errors of idle pooled connections (server restart, terminated backend). */
  logger?: Logger;
}

export interface MysqlDatabaseOptions {
  url: string;
  poolSizeMax: number;
  connectTimeoutMs: number;
  /** MariaDB `max_statement_time` / MySQL `max_execution_time` per session; 0 disables. */
  statementTimeoutMs: number;
  /** Connection requests waiting for a free pooled connection; beyond this they fail at once. */
  queueLimitMax?: number;
  idleTimeoutMs?: number;
}

const pgTypeOid = { int8: 20, numeric: 1700 } as const;

// pg already returns INT8 and NUMERIC as strings, but a stray global
// `types.setTypeParser` elsewhere in the process would silently turn money into
// floats. A per-pool type table pins the behaviour for our pools.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pgTypeOid.int8 || oid === pgTypeOid.numeric) return (value: string) => value;
    return pg.types.getTypeParser(oid, format ?? 'text');
  },
} as pg.CustomTypesConfig;

export function createPgDatabase<DB>(options: PgDatabaseOptions): Database<DB> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSizeMax,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    application_name: options.applicationName,
    types: pgTypes,
  });
  // Without a listener, an idle connection killed by the server (failover,
  // pg_terminate_backend) is an uncaught 'error' that takes the process down.
  // The pool drops that connection and opens a new one on demand.
  pool.on('error', (error) => {
    options.logger?.warn({ err: error }, 'idle PostgreSQL connection failed; the pool replaces it');
  });
  // The pool listens only while a connection is idle. One checked out between
  // two statements (a transaction waiting on its batch) that the server drops
  // (a restart in immediate mode) emits 'error' with nobody listening, and the
  // process dies (found by `npm run chaos`). Its holder learns it anyway: the
  // next statement fails, and the pool discards the connection on release.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      options.logger?.warn({ err: error }, 'PostgreSQL connection in use failed; its next statement fails');
    });
  });
  const db = new Kysely<DB>({
    dialect: traced(new PostgresDialect({ pool }), 'postgresql', databaseOf(options.url)),
  });
  return {
    db,
    dialect: 'postgres',
    close: () => db.destroy(),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
  };
}

export function createMysqlDatabase<DB>(options: MysqlDatabaseOptions): Database<DB> {
  const pool = createMysqlPool({
    uri: options.url,
    connectionLimit: options.poolSizeMax,
    connectTimeout: options.connectTimeoutMs,
    queueLimit: options.queueLimitMax ?? 1000,
    idleTimeout: options.idleTimeoutMs ?? 30_000,
    // Money columns are DECIMAL(20,0) and ids BIGINT: strings in, bigint in code, never floats.
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    // Dates cross the wire in UTC so a server in another zone cannot shift them.
    timezone: 'Z',
    charset: 'utf8mb4',
  });
  const db = new Kysely<DB>({
    dialect: traced(mysqlDialect(pool, options.statementTimeoutMs), 'mysql', databaseOf(options.url)),
  });
  return {
    db,
    dialect: 'mysql',
    close: () => db.destroy(),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
  };
}

function mysqlDialect(pool: ReturnType<typeof createMysqlPool>, statementTimeoutMs: number): Dialect {
  return new MysqlDialect({
    pool,
    onCreateConnection: async (connection) => {
      await connection.executeQuery(CompiledQuery.raw("SET SESSION time_zone = '+00:00'"));
      if (statementTimeoutMs <= 0) return;
      try {
        // MariaDB counts seconds and covers every statement kind.
        await connection.executeQuery(
          CompiledQuery.raw(`SET SESSION max_statement_time = ${statementTimeoutMs / 1000}`),
        );
      } catch {
        // MySQL only bounds SELECTs, in milliseconds.
        await connection.executeQuery(
          CompiledQuery.raw(`SET SESSION max_execution_time = ${Math.trunc(statementTimeoutMs)}`),
        );
      }
    },
  });
}

function databaseOf(url: string): string {
  return new URL(url).pathname.replace(/^\//, '');
}

/**
 * With tracing on, every statement run inside a trace is a client span
 * `<operation> <database>` (db.system.name, db.namespace, db.operation.name):
 * never its text or parameters, which hold account numbers and amounts.
 * Statements outside any trace (relays polling, jobs) make no span. With
 * tracing off the dialect is returned untouched.
 */
function traced(dialect: Dialect, system: 'postgresql' | 'mysql', namespace: string): Dialect {
  if (!tracingEnabled()) return dialect;
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => {
      const driver = dialect.createDriver();
      const acquire = driver.acquireConnection.bind(driver);
      // Pooled connections come back again and again: each is wrapped once.
      const wrapped = new WeakSet<DatabaseConnection>();
      driver.acquireConnection = async () => {
        const connection = await acquire();
        if (!wrapped.has(connection)) {
          wrapped.add(connection);
          traceStatements(connection, system, namespace);
        }
        return connection;
      };
      return driver;
    },
  };
}

function traceStatements(connection: DatabaseConnection, system: string, namespace: string): void {
  const execute = connection.executeQuery.bind(connection);
  connection.executeQuery = async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
    if (!insideTrace()) return execute<R>(query);
    const operation = /^\s*([a-zA-Z]+)/.exec(query.sql)?.[1]?.toLowerCase() ?? 'query';
    const span = startSpan(`${operation} ${namespace}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': system, 'db.namespace': namespace, 'db.operation.name': operation },
    });
    try {
      const result = await execute<R>(query);
      endSpan(span);
      return result;
    } catch (error) {
      endSpan(span, error);
      throw error;
    }
  };
}

export class MigrationFailedError extends Error {
  readonly migrationName: string | undefined;
  constructor(migrationName: string | undefined, cause: unknown) {
    const what = migrationName === undefined ? 'migrations could not start' : `migration ${migrationName}`;
    super(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    setErrorName(this, 'MigrationFailedError');
    this.migrationName = migrationName;
  }
}

export interface MigrateOptions {
  /** Several components may keep their migrations apart in one database. */
  migrationTableName?: string;
  migrationLockTableName?: string;
}

/**
 * Applies every migration not yet applied, in name order. Kysely takes a lock
 * table so that several processes starting together migrate once.
 * Returns the names applied by this call.
 */
export async function migrateToLatest<DB>(
  db: Kysely<DB>,
  migrations: Record<string, Migration>,
  options: MigrateOptions = {},
): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({
    db,
    provider,
    // Platform migrations (0000_platform_*) are added over time and sort
    // before a service's own; each touches only its own tables, so one added
    // later runs after migrations that sort behind it.
    allowUnorderedMigrations: true,
    ...(options.migrationTableName === undefined ? {} : { migrationTableName: options.migrationTableName }),
    ...(options.migrationLockTableName === undefined
      ? {}
      : { migrationLockTableName: options.migrationLockTableName }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new MigrationFailedError(failed?.migrationName, error);
  }
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}

export interface TransactionOptions {
  isolationLevel?: IsolationLevel;
}

/** One business step: everything in `work` commits together or not at all. */
export async function inTransaction<DB, T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const builder =
    options.isolationLevel === undefined
      ? db.transaction()
      : db.transaction().setIsolationLevel(options.isolationLevel);
  return builder.execute(work);
}

// Database names go into DDL unquoted by parameters, so they are held to a
// conservative alphabet instead of being escaped.
const databaseNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

function assertDatabaseName(name: string): void {
  if (!databaseNamePattern.test(name)) {
    throw new Error(`database name ${JSON.stringify(name)} must match ${databaseNamePattern}`);
  }
}

const adminConnectTimeoutMs = 10_000;

async function withPgAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: adminUrl,
    connectionTimeoutMillis: adminConnectTimeoutMs,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates the database unless it exists. Returns true when this call created it. */
export async function ensurePgDatabase(adminUrl: string, name: string): Promise<boolean> {
  assertDatabaseName(name);
  return withPgAdmin(adminUrl, async (client) => {
    const existing = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (existing.rowCount !== 0) return false;
    try {
      await client.query(`create database "${name}"`);
      return true;
    } catch (error) {
      // Another process won the race: 42P04 duplicate_database, or 23505 on pg_database's unique index.
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw error;
    }
  });
}

export async function dropPgDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withPgAdmin(adminUrl, async (client) => {
    await client.query(`drop database if exists "${name}" with (force)`);
  });
}

async function withMysqlAdmin<T>(
  adminUrl: string,
  work: (connection: Awaited<ReturnType<typeof createMysqlConnection>>) => Promise<T>,
): Promise<T> {
  const connection = await createMysqlConnection({ uri: adminUrl, connectTimeout: adminConnectTimeoutMs });
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

/** Creates the database unless it exists. Returns true when this call created it. */
export async function ensureMysqlDatabase(adminUrl: string, name: string): Promise<boolean> {
  assertDatabaseName(name);
  return withMysqlAdmin(adminUrl, async (connection) => {
    const [result] = await connection.query(
      `create database if not exists \`${name}\` character set utf8mb4 collate utf8mb4_bin`,
    );
    return (result as { warningStatus?: number }).warningStatus === 0;
  });
}

export async function dropMysqlDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withMysqlAdmin(adminUrl, async (connection) => {
    await connection.query(`drop database if exists \`${name}\``);
  });
}
