import assert from 'node:assert/strict';
import { inTransaction } from '@nuri/platform/db';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { Account, AccountStore, OpenAccountResult, TransactionItem } from '../domain/accounts.ts';
import type { MovementType } from '../domain/ledger.ts';
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

    async listTransactions(accountNo, limit, beforeEntryId) {
      let query = db
        .selectFrom('ledger_entries')
        .select(['id', 'transaction_id', 'type', 'amount', 'balance_after', 'reference', 'created_at'])
        .where('account_no', '=', accountNo)
        .orderBy('id', 'desc')
        .limit(limit);
      if (beforeEntryId !== undefined) query = query.where('id', '<', beforeEntryId);
      const rows = await query.execute();
      return rows.map((row): TransactionItem & { entryId: string } => ({
        entryId: row.id,
        id: row.transaction_id,
        type: row.type as MovementType,
        amount: parseDbAmount(row.amount),
        balanceAfter: customerBalanceAfter(row.balance_after, row.id),
        reference: row.reference,
        createdAt: row.created_at,
      }));
    },
  };
}

function customerBalanceAfter(value: string | null, entryId: string): bigint {
  assert.ok(value !== null, `customer ledger entry ${entryId} has no balance_after`);
  return parseDbAmount(value);
}
