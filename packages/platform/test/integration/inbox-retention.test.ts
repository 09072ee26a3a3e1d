import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newEventId } from '@nuri/contracts/events';
import { sql } from 'kysely';
import {
  createMysqlDatabase,
  createPgDatabase,
  type Database,
  type DatabaseDialect,
  dropMysqlDatabase,
  dropPgDatabase,
  ensureMysqlDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '../../src/db.ts';
import {
  createInboxPruner,
  type InboxDatabase,
  inboxMigrations,
  recordInbox,
} from '../../src/kafka/inbox.ts';
import { mysqlAdminUrl, pgAdminUrl, silentLogger, uniqueName, waitUntil } from './kafka-helpers.ts';

async function openDatabase(dialect: DatabaseDialect, name: string): Promise<Database<InboxDatabase>> {
  const common = { poolSizeMax: 4, statementTimeoutMs: 10_000 };
  if (dialect === 'postgres') {
    await ensurePgDatabase(pgAdminUrl, name);
    return createPgDatabase<InboxDatabase>({
      ...common,
      url: `postgres://postgres@127.0.0.1:5432/${name}`,
      connectionTimeoutMs: 5_000,
      applicationName: 'it-inbox-retention',
    });
  }
  await ensureMysqlDatabase(mysqlAdminUrl, name);
  return createMysqlDatabase<InboxDatabase>({
    ...common,
    url: `mysql://root@127.0.0.1:3306/${name}`,
    connectTimeoutMs: 5_000,
  });
}

const dayMs = 86_400_000;

for (const dialect of ['postgres', 'mysql'] as const) {
  describe(`inbox retention on ${dialect}`, { timeout: 60_000 }, () => {
    const databaseName = uniqueName(`it_inbox_ret_${dialect === 'postgres' ? 'pg' : 'my'}`);
    let database: Database<InboxDatabase>;

    before(async () => {
      database = await openDatabase(dialect, databaseName);
      await migrateToLatest(database.db, inboxMigrations(dialect));
    });

    after(async () => {
      await database?.close();
      if (dialect === 'postgres') await dropPgDatabase(pgAdminUrl, databaseName);
      else await dropMysqlDatabase(mysqlAdminUrl, databaseName);
    });

    /** Records `count` ids as handled `ageMs` ago; returns them. */
    async function handled(count: number, ageMs: number): Promise<string[]> {
      const ids = Array.from({ length: count }, () => newEventId());
      await database.db.transaction().execute((trx) => recordInbox(trx, 'probe', ids));
      const at = new Date(Date.now() - ageMs);
      await database.db.updateTable('inbox').set({ handled_at: at }).where('event_id', 'in', ids).execute();
      return ids;
    }

    async function remaining(): Promise<Set<string>> {
      const rows = await database.db.selectFrom('inbox').select('event_id').execute();
      return new Set(rows.map((row) => row.event_id));
    }

    it('when ids are older than the retention, then a pass deletes them all in batches and keeps the recent ones', async () => {
      await sql`delete from inbox`.execute(database.db);
      const old = await handled(25, 9 * dayMs);
      const recent = await handled(5, dayMs);
      const pruner = createInboxPruner({ db: database.db, logger: silentLogger, batchSizeMax: 10 });

      const deleted = await pruner.prune();

      assert.equal(deleted, old.length);
      const left = await remaining();
      assert.equal(left.size, recent.length);
      for (const id of recent) assert.ok(left.has(id));
      // A pruned id is new again to the inbox: that is why retention must outlast the topics.
      const again = await database.db.transaction().execute((trx) => recordInbox(trx, 'probe', [old[0]!]));
      assert.deepEqual(again, [old[0]]);
    });

    it('when started, then it prunes on its own every interval until stopped', async () => {
      await sql`delete from inbox`.execute(database.db);
      await handled(3, 2 * 60_000);
      const kept = await handled(2, 0);
      const pruner = createInboxPruner({
        db: database.db,
        logger: silentLogger,
        retentionMs: 60_000,
        intervalMs: 50,
      });
      pruner.start();
      try {
        await waitUntil('the first pass', async () => (await remaining()).size === kept.length, 10_000);
        await handled(4, 2 * 60_000);
        await waitUntil('a later pass', async () => (await remaining()).size === kept.length, 10_000);
      } finally {
        await pruner.stop();
      }
      await handled(1, 2 * 60_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal((await remaining()).size, kept.length + 1, 'a stopped pruner deletes nothing more');
    });
  });
}
