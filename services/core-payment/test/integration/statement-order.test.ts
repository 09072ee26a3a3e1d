import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPgDatabase, dropPgDatabase, ensurePgDatabase, migrateToLatest } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { databaseUrl } from '@nuri/platform/service';
import { sql } from 'kysely';
import type { ServiceDb } from '../../src/db/database.ts';
import { migrations } from '../../src/db/migrations.ts';
import { createWithdrawalStore } from '../../src/db/withdrawals-repository.ts';
import type { WithdrawalItem } from '../../src/domain/withdrawals.ts';
import {
  auth,
  balanceOf,
  fund,
  openAccount,
  pgAdminUrl,
  randomUserUuid,
  startService,
  type TestService,
  uniqueName,
} from './helpers.ts';

interface Line {
  id: string;
  type: string;
  amount: number;
  balanceAfter: number;
  reference: string;
}

const credits = new Set(['DEPOSIT', 'TRANSFER_IN']);

// Chaos finding 8. Ledger ids are UUIDv7s made in the application before the
// movement's transaction starts; the account's row lock decides which movement
// is applied first. These tests make the later id win the lock, as a slower
// request does under load, and read the statement a client would.
describe('statement order', { timeout: 60_000 }, () => {
  let service: TestService;
  before(async () => {
    service = await startService('statement_order');
  });
  after(async () => {
    await service?.close();
  });

  async function statementPages(accountNo: string, limit: number): Promise<Line[][]> {
    const pages: Line[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const response = await service.app.inject({
        url: `/internal/v1/accounts/${accountNo}/transactions?limit=${limit}${query}`,
        headers: auth,
      });
      assert.equal(response.statusCode, 200, response.body);
      const page = response.json<{ items: Line[]; nextCursor: string | null }>();
      pages.push(page.items);
      cursor = page.nextCursor;
    } while (cursor !== null && pages.length <= 10);
    return pages;
  }

  it('when a movement whose ids were made first commits last, then the newest line carries the balance and balanceAfter runs line by line, on every page', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 100_000n);
    // The slow withdrawal: its ids are made now, its transaction runs last.
    const slow: WithdrawalItem = {
      accountNo,
      userUuid,
      amount: 30_000n,
      idempotencyKey: uuidv7(),
      withdrawalId: uuidv7(),
      transactionId: uuidv7(),
      entryIds: [uuidv7(), uuidv7()],
    };
    // Meanwhile a deposit (ids made inside, later) gets the account's lock first and commits.
    await fund(service, accountNo, userUuid, 5_000n);
    const withdrawals = createWithdrawalStore(service.database.db);
    assert.deepEqual(await withdrawals.withdraw(slow), { kind: 'succeeded', balanceAfter: 75_000n });
    const ids = await service.database.db
      .selectFrom('ledger_entries')
      .select(['id', 'type'])
      .where('account_no', '=', accountNo)
      .orderBy('id', 'desc')
      .execute();
    assert.deepEqual(
      ids.map((row) => row.type),
      ['DEPOSIT', 'WITHDRAWAL', 'DEPOSIT'],
      'the withdrawal committed last holds the middle id',
    );

    const [whole] = await statementPages(accountNo, 100);
    const lines = whole ?? [];
    assert.deepEqual(
      lines.map((line) => [line.type, line.amount, line.balanceAfter]),
      [
        ['WITHDRAWAL', 30_000, 75_000],
        ['DEPOSIT', 5_000, 105_000],
        ['DEPOSIT', 100_000, 100_000],
      ],
    );
    assert.equal(BigInt(lines[0]!.balanceAfter), await balanceOf(service, accountNo));
    lines.forEach((line, index) => {
      const older = lines[index + 1]?.balanceAfter ?? 0;
      const sign = credits.has(line.type) ? 1 : -1;
      assert.equal(line.balanceAfter, older + sign * line.amount, `line ${index} (${line.type})`);
    });
    assert.equal(lines[0]!.reference, slow.withdrawalId);

    // The cursor walks the same order: one line a page gives the same statement.
    const pages = await statementPages(accountNo, 1);
    assert.deepEqual(
      pages.map((page) => page.length),
      [1, 1, 1],
    );
    assert.deepEqual(pages.flat(), lines);
  });

  it('when a cursor from before statements were ordered by seq (e1: an entry id) comes back, then the walk carries on below that entry', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    for (const amount of [1n, 2n, 3n]) await fund(service, accountNo, userUuid, amount);
    const newest = await service.database.db
      .selectFrom('ledger_entries')
      .select('id')
      .where('account_no', '=', accountNo)
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    const oldCursor = Buffer.from(`e1:${newest.id}`).toString('base64url');
    const rest = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?cursor=${encodeURIComponent(oldCursor)}`,
      headers: auth,
    });
    assert.equal(rest.statusCode, 200, rest.body);
    assert.deepEqual(
      rest.json<{ items: Line[] }>().items.map((line) => line.amount),
      [2, 1],
    );

    // Another account's entry id positions nothing here.
    const strangerCursor = Buffer.from(`e1:${uuidv7()}`).toString('base64url');
    const stranger = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?cursor=${encodeURIComponent(strangerCursor)}`,
      headers: auth,
    });
    assert.deepEqual(stranger.json(), { items: [], nextCursor: null });
  });
});

describe('the ledger sequence migration', { timeout: 60_000 }, () => {
  const name = uniqueName('it_cp_ledger_seq').toLowerCase();
  const database = createPgDatabase<ServiceDb>({
    url: databaseUrl(pgAdminUrl, name),
    poolSizeMax: 2,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
    applicationName: 'core-payment-test',
  });
  before(async () => {
    await ensurePgDatabase(pgAdminUrl, name);
  });
  after(async () => {
    await database.close();
    await dropPgDatabase(pgAdminUrl, name);
  });

  it('when entries exist before it, then they are numbered in id order, new entries follow them, and the ledger is append-only again', async () => {
    const before0007 = Object.fromEntries(
      Object.entries(migrations).filter(([key]) => key < '0007_ledger_entry_sequence'),
    );
    await migrateToLatest(database.db, before0007);
    const accountNo = '110-000-000018';
    await sql`insert into accounts (account_no, user_uuid, balance) values (${accountNo}, ${randomUserUuid()}, 6)`.execute(
      database.db,
    );
    // Written in the other order than their ids, so the table's physical order is not the id order.
    const ids = [uuidv7(), uuidv7(), uuidv7()];
    for (const [index, id] of [...ids.entries()].reverse()) {
      const transactionId = uuidv7();
      const amount = index + 1;
      await sql`insert into ledger_transactions (id, type, reference, account_no, amount)
        values (${transactionId}, 'DEPOSIT', ${`deposit-${index}`}, ${accountNo}, ${amount})`.execute(
        database.db,
      );
      await sql`insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference)
        values (${id}, ${transactionId}, ${accountNo}, 'CREDIT', 'DEPOSIT', ${amount}, ${amount}, ${`deposit-${index}`}),
               (${uuidv7()}, ${transactionId}, 'INTERNAL:DEPOSIT_CLEARING', 'DEBIT', 'DEPOSIT', ${amount}, null,
                ${`deposit-${index}`})`.execute(database.db);
    }

    const applied = await migrateToLatest(database.db, migrations);
    assert.equal(applied[0], '0007_ledger_entry_sequence', applied.join(', '));

    const numbered = await database.db
      .selectFrom('ledger_entries')
      .select(['id', 'seq'])
      .where('account_no', '=', accountNo)
      .orderBy('seq')
      .execute();
    assert.deepEqual(
      numbered.map((row) => row.id),
      ids,
    );
    const all = await database.db.selectFrom('ledger_entries').select(['id', 'seq']).orderBy('id').execute();
    assert.deepEqual(
      all.map((row) => Number(row.seq)),
      [1, 2, 3, 4, 5, 6],
    );
    // A new entry with a smaller id than every other still comes after them: its place is taken at insert.
    const transactionId = uuidv7();
    await sql`insert into ledger_transactions (id, type, reference, account_no, amount)
      values (${transactionId}, 'WITHDRAWAL', 'withdrawal-0', ${accountNo}, 1)`.execute(database.db);
    await sql`insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference)
      values ('00000000-0000-7000-8000-000000000000', ${transactionId}, ${accountNo}, 'DEBIT', 'WITHDRAWAL', 1, 5,
              'withdrawal-0')`.execute(database.db);
    const newest = await database.db
      .selectFrom('ledger_entries')
      .select(['id', 'seq'])
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    assert.deepEqual(newest, { id: '00000000-0000-7000-8000-000000000000', seq: '7' });

    await assert.rejects(
      sql`insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference, seq)
        values (${uuidv7()}, ${transactionId}, ${accountNo}, 'DEBIT', 'WITHDRAWAL', 1, 4, 'withdrawal-0', 1)`.execute(
        database.db,
      ),
      /cannot insert a non-DEFAULT value into column "seq"/,
    );
    await assert.rejects(sql`update ledger_entries set amount = amount`.execute(database.db), /append-only/);
  });
});
