import assert from 'node:assert/strict';
import { inTransaction } from '@nuri/platform/db';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, type Selectable, sql } from 'kysely';
import type {
  Account,
  AccountStore,
  Counterparty,
  EntryType,
  OpenAccountResult,
  StatementPosition,
  TransactionItem,
} from '../domain/accounts.ts';
import type { AccountsTable, ServiceDb } from './database.ts';

export function toAccount(row: Selectable<AccountsTable>): Account {
  return {
    accountNo: row.account_no,
    userUuid: row.user_uuid,
    alias: row.alias,
    balance: parseDbAmount(row.balance),
    currency: 'KRW',
    status: row.status,
    openedAt: row.opened_at,
  };
}

export function createAccountStore(db: Kysely<ServiceDb>): AccountStore {
  return {
    openAccount: ({ accountNo, userUuid, alias, openKey, openAccountsMax }) =>
      inTransaction(db, async (trx): Promise<OpenAccountResult> => {
        // Serialises opens for one user, so neither the key lookup nor the
        // count below can be overtaken by a concurrent insert (a retry racing
        // its original waits here, then finds it); released at commit or rollback.
        await sql`select pg_advisory_xact_lock(hashtextextended(${`open-account:${userUuid}`}, 0))`.execute(
          trx,
        );
        if (openKey !== null) {
          const opened = await trx
            .selectFrom('accounts')
            .selectAll()
            .where('user_uuid', '=', userUuid)
            .where('open_key', '=', openKey)
            .executeTakeFirst();
          if (opened !== undefined) return { kind: 'alreadyOpened', account: toAccount(opened) };
        }
        const { open } = await trx
          .selectFrom('accounts')
          .select((eb) => eb.fn.countAll<string>().as('open'))
          .where('user_uuid', '=', userUuid)
          .where('status', '=', 'ACTIVE')
          .executeTakeFirstOrThrow();
        if (Number(open) >= openAccountsMax) return { kind: 'limitReached' };
        const row = await trx
          .insertInto('accounts')
          .values({ account_no: accountNo, user_uuid: userUuid, alias, open_key: openKey })
          .onConflict((conflict) => conflict.column('account_no').doNothing())
          .returningAll()
          .executeTakeFirst();
        if (row === undefined) return { kind: 'collision' };
        return { kind: 'opened', account: toAccount(row) };
      }),

    async findAccount(accountNo) {
      const row = await db
        .selectFrom('accounts')
        .selectAll()
        .where('account_no', '=', accountNo)
        .executeTakeFirst();
      return row === undefined ? undefined : toAccount(row);
    },

    async listAccountsOfUser(userUuid) {
      const rows = await db
        .selectFrom('accounts')
        .selectAll()
        .where('user_uuid', '=', userUuid)
        .orderBy('opened_at')
        .orderBy('account_no')
        .execute();
      return rows.map(toAccount);
    },

    async listTransactions(accountNo, limit, before) {
      // By seq, not id: ids are made before the transaction commits, seq under
      // the account's lock as the row is inserted (see 0007_ledger_entry_sequence).
      let query = db
        .selectFrom('ledger_entries')
        .select(['id', 'seq', 'transaction_id', 'type', 'amount', 'balance_after', 'reference', 'created_at'])
        .where('account_no', '=', accountNo)
        .orderBy('seq', 'desc')
        .limit(limit);
      if (before !== undefined) query = query.where('seq', '<', seqOf(db, accountNo, before));
      const rows = await query.execute();
      const transfers = await transfersOf(
        db,
        rows
          .filter((row) => row.type === 'TRANSFER_OUT' || row.type === 'TRANSFER_IN')
          .map((row) => row.reference),
      );
      return rows.map((row): TransactionItem & { seq: string } => {
        const item: TransactionItem & { seq: string } = {
          seq: row.seq,
          id: row.transaction_id,
          type: row.type as EntryType,
          amount: parseDbAmount(row.amount),
          balanceAfter: customerBalanceAfter(row.balance_after, row.id),
          reference: row.reference,
          createdAt: row.created_at,
        };
        const transfer = transfers.get(row.reference);
        if (transfer !== undefined) {
          // The other side: the recipient on the sender's line, the sender on the recipient's.
          const counterparty = row.type === 'TRANSFER_OUT' ? transfer.to : transfer.from;
          item.transfer = { counterparty, memo: transfer.memo };
        }
        return item;
      });
    },
  };
}

/**
 * The seq a page starts below. An old cursor's entry id is looked up in the
 * same account; an id that is not there gives null, so nothing is below it
 * and the page is empty.
 */
function seqOf(db: Kysely<ServiceDb>, accountNo: string, position: StatementPosition) {
  if ('seq' in position) return position.seq;
  return db
    .selectFrom('ledger_entries as cursor_entry')
    .select('cursor_entry.seq')
    .where('cursor_entry.id', '=', position.entryId)
    .where('cursor_entry.account_no', '=', accountNo);
}

/** The transfers of a page's transfer lines, with both sides' holders: one query, only when the page has any. */
async function transfersOf(db: Kysely<ServiceDb>, transferIds: readonly string[]) {
  const found = new Map<string, { from: Counterparty; to: Counterparty; memo: string | null }>();
  if (transferIds.length === 0) return found;
  const rows = await sql<{
    transfer_id: string;
    from_account_no: string;
    from_user: string;
    to_account_no: string;
    to_user: string;
    memo: string | null;
  }>`
    select t.transfer_id, t.from_account_no, f.user_uuid as from_user, t.to_account_no, r.user_uuid as to_user, t.memo
    from transfers t
    join accounts f on f.account_no = t.from_account_no
    join accounts r on r.account_no = t.to_account_no
    where t.transfer_id = any(${[...new Set(transferIds)]}::uuid[])`.execute(db);
  for (const row of rows.rows) {
    found.set(row.transfer_id, {
      from: { userUuid: row.from_user, accountNoLast4: row.from_account_no.slice(-4) },
      to: { userUuid: row.to_user, accountNoLast4: row.to_account_no.slice(-4) },
      memo: row.memo,
    });
  }
  return found;
}

function customerBalanceAfter(value: string | null, entryId: string): bigint {
  assert.ok(value !== null, `customer ledger entry ${entryId} has no balance_after`);
  return parseDbAmount(value);
}
