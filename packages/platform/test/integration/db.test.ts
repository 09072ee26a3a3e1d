import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import {
  createMysqlDatabase,
  createPgDatabase,
  type Database,
  dropMysqlDatabase,
  dropPgDatabase,
  ensureMysqlDatabase,
  ensurePgDatabase,
  inTransaction,
  MigrationFailedError,
  migrateToLatest,
} from '../../src/db.ts';
import { mysqlAdminUrl, pgAdminUrl, uniqueName } from './kafka-helpers.ts';

interface MoneyTable {
  id: number;
  amount: string;
  big: string;
}

type MoneyDb = { money: MoneyTable };

const cases = [
  {
    dialect: 'postgres',
    ensure: (name: string) => ensurePgDatabase(pgAdminUrl, name),
    drop: (name: string) => dropPgDatabase(pgAdminUrl, name),
    open: (name: string) =>
      createPgDatabase<MoneyDb>({
        url: `postgres://postgres@127.0.0.1:5432/${name}`,
        poolSizeMax: 4,
        connectionTimeoutMs: 5_000,
        statementTimeoutMs: 200,
        applicationName: 'it-db',
      }),
    sleepSql: sql`select pg_sleep(2)`,
  },
  {
    dialect: 'mysql',
    ensure: (name: string) => ensureMysqlDatabase(mysqlAdminUrl, name),
    drop: (name: string) => dropMysqlDatabase(mysqlAdminUrl, name),
    open: (name: string) =>
      createMysqlDatabase<MoneyDb>({
        url: `mysql://root@127.0.0.1:3306/${name}`,
        poolSizeMax: 4,
        connectTimeoutMs: 5_000,
        statementTimeoutMs: 200,
      }),
    sleepSql: sql`select sleep(2)`,
  },
] as const;

for (const testCase of cases) {
  describe(`database helpers on ${testCase.dialect}`, { timeout: 30_000 }, () => {
    const name = uniqueName(`it_db_${testCase.dialect === 'postgres' ? 'pg' : 'my'}`);
    let database: Database<MoneyDb>;

    before(async () => {
      assert.equal(await testCase.ensure(name), true);
      database = testCase.open(name);
    });

    after(async () => {
      await database?.close();
      await testCase.drop(name);
    });

    it('when the database already exists, then ensuring it again is a no-op', async () => {
      assert.equal(await testCase.ensure(name), false);
      await database.ping();
      assert.equal(database.dialect, testCase.dialect);
    });

    it('when migrations run twice, then the second run applies nothing; a failing one is named', async () => {
      const migrations = {
        '0001_money': {
          up: async (db: Parameters<typeof migrateToLatest>[0]) => {
            await sql`create table money (id int primary key, amount numeric(20,0) not null, big bigint not null)`.execute(
              db,
            );
          },
        },
      };
      assert.deepEqual(await migrateToLatest(database.db, migrations), ['0001_money']);
      assert.deepEqual(await migrateToLatest(database.db, migrations), []);
      await assert.rejects(
        migrateToLatest(database.db, {
          ...migrations,
          '0002_broken': { up: async (db) => void (await sql`create table money (id int)`.execute(db)) },
        }),
        (error: unknown) => error instanceof MigrationFailedError && error.migrationName === '0002_broken',
      );
    });

    it('when money beyond 2^53 is stored, then it comes back as an exact string, never a float', async () => {
      await inTransaction(database.db, async (trx) => {
        await trx
          .insertInto('money')
          .values({ id: 1, amount: '99999999999999999999', big: '9007199254740993' })
          .execute();
      });
      const row = await database.db
        .selectFrom('money')
        .selectAll()
        .where('id', '=', 1)
        .executeTakeFirstOrThrow();
      assert.equal(row.amount, '99999999999999999999');
      assert.equal(row.big, '9007199254740993');
    });

    it('when a transaction throws, then nothing it wrote remains', async () => {
      await assert.rejects(
        inTransaction(database.db, async (trx) => {
          await trx.insertInto('money').values({ id: 2, amount: '1', big: '1' }).execute();
          throw new Error('rule broken');
        }),
        /rule broken/,
      );
      const rows = await database.db.selectFrom('money').select('id').where('id', '=', 2).execute();
      assert.equal(rows.length, 0);
    });

    it('when a statement runs past the statement timeout, then it is cancelled', async () => {
      await assert.rejects(testCase.sleepSql.execute(database.db));
    });
  });
}
