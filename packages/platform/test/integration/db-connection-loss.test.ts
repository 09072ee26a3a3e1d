import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { createPgDatabase, type Database, dropPgDatabase, ensurePgDatabase } from '../../src/db.ts';
import { createHttpApp } from '../../src/http.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { pgAdminUrl, uniqueName } from './kafka-helpers.ts';

// Found by `npm run chaos` (PostgreSQL restarted in immediate mode): a pooled
// connection that the server dropped while it was checked out, between two
// statements, emitted 'error' with no listener and took the process down; and
// the requests that were using it answered 500 INTERNAL_ERROR (finding 7) —
// an outage, not a bug, so 503 SERVICE_UNAVAILABLE with Retry-After.

describe('a PostgreSQL connection lost while in use', { timeout: 30_000 }, () => {
  const name = uniqueName('it_db_loss');
  let database: Database<Record<string, never>>;

  before(async () => {
    await ensurePgDatabase(pgAdminUrl, name);
    database = createPgDatabase({
      url: `postgres://postgres@127.0.0.1:5432/${name}`,
      poolSizeMax: 2,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 5_000,
      applicationName: 'it-db-loss',
    });
  });

  after(async () => {
    await database?.close();
    await dropPgDatabase(pgAdminUrl, name);
  });

  it('when the server ends it between two statements of a transaction, then the transaction fails, the process lives, and the pool serves again', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const transaction = database.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        const admin = new pg.Client({ connectionString: pgAdminUrl });
        await admin.connect();
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await admin.end();
        // Idle in the transaction while the server's goodbye arrives.
        await sleep(300);
        await sql`select 1`.execute(trx);
      });
      await assert.rejects(transaction);
      await sleep(100);
      assert.deepEqual(uncaught, [], 'no uncaught error');
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
      assert.equal(rows[0]!.one, 1);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('when a route loses its connection mid-transaction or hits a statement timeout, then it answers 503 SERVICE_UNAVAILABLE with Retry-After, not 500, and says nothing of the cause', async () => {
    const lines: string[] = [];
    const app = createHttpApp({
      name: 'it-db-loss',
      logger: createLogger({
        name: 'it-db-loss',
        level: 'warn',
        destination: { write: (line) => void lines.push(line) },
      }),
      metrics: createMetrics('it_db_loss'),
    });
    app.post('/terminated', async () => {
      await database.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        const admin = new pg.Client({ connectionString: pgAdminUrl });
        await admin.connect();
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await admin.end();
        await sleep(300);
        await sql`select 1`.execute(trx);
      });
      return { done: true };
    });
    app.post('/slow', async () => {
      await database.db.transaction().execute(async (trx) => {
        await sql`set local statement_timeout = 50`.execute(trx);
        await sql`select pg_sleep(2)`.execute(trx);
      });
      return { done: true };
    });
    try {
      for (const url of ['/terminated', '/slow']) {
        const response = await app.inject({ method: 'POST', url });
        assert.equal(response.statusCode, 503, `${url}: ${response.body}`);
        assert.equal(response.headers['retry-after'], '1');
        assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
        const body = response.json();
        assert.equal(body.code, 'SERVICE_UNAVAILABLE');
        assert.doesNotMatch(response.body, /terminat|statement|timeout|postgres|pg_/i);
      }
      const logged = lines.map((line) => JSON.parse(line)).filter((line) => line.level === 40);
      assert.equal(logged.length, 2, 'each outage logged once, as a warning with its cause');
      assert.ok(logged.every((line) => typeof line.err?.message === 'string'));
    } finally {
      await app.close();
    }
  });
});
