import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { createPgDatabase, type Database, dropPgDatabase, ensurePgDatabase } from '../../src/db.ts';
import { pgAdminUrl, uniqueName } from './kafka-helpers.ts';

// Found by `npm run chaos` (PostgreSQL restarted in immediate mode): a pooled
// connection that the server dropped while it was checked out, between two
// statements, emitted 'error' with no listener and took the process down.

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
});
