import { uuidv7 } from '@nuri/platform/ids';
import { parseDbAmount } from '@nuri/platform/money';
import { sql, type Transaction } from 'kysely';
import type { AccountStatus, LockedAccount } from '../domain/accounts.ts';
import { legsOf, type Movement } from '../domain/ledger.ts';
import type { ServiceDb } from './database.ts';

/**
 * Appends movements (a transaction row and its two legs each) with two
 * statements whatever their number: arrays go in as parameters and unnest
 * into rows. The caller has already changed the balances in `trx`.
 */
export async function appendMovements(
  trx: Transaction<ServiceDb>,
  movements: readonly Movement[],
): Promise<void> {
  if (movements.length === 0) return;
  const createdAt = new Date();
  await sql`
    insert into ledger_transactions (id, type, reference, account_no, amount, created_at)
    select id, type, reference, account_no, amount, ${createdAt}
    from unnest(${movements.map((m) => m.transactionId)}::uuid[], ${movements.map((m) => m.type)}::text[],
                ${movements.map((m) => m.reference)}::text[], ${movements.map((m) => m.accountNo)}::text[],
                ${movements.map((m) => m.amount.toString())}::numeric[])
      as movement(id, type, reference, account_no, amount)`.execute(trx);

  const entries = movements.flatMap((movement) =>
    legsOf(movement).map((leg) => ({ id: uuidv7(), movement, leg })),
  );
  await sql`
    insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference, created_at)
    select id, transaction_id, account_no, side, type, amount, balance_after, reference, ${createdAt}
    from unnest(${entries.map((e) => e.id)}::uuid[], ${entries.map((e) => e.movement.transactionId)}::uuid[],
                ${entries.map((e) => e.leg.accountNo)}::text[], ${entries.map((e) => e.leg.side)}::text[],
                ${entries.map((e) => e.movement.type)}::text[], ${entries.map((e) => e.leg.amount.toString())}::numeric[],
                ${entries.map((e) => e.leg.balanceAfter?.toString() ?? null)}::numeric[],
                ${entries.map((e) => e.movement.reference)}::text[])
      as entry(id, transaction_id, account_no, side, type, amount, balance_after, reference)`.execute(trx);
}

/** Sets new balances with one statement; the CHECK on accounts refuses anything out of range. */
export async function setBalances(
  trx: Transaction<ServiceDb>,
  balances: ReadonlyMap<string, bigint>,
): Promise<void> {
  if (balances.size === 0) return;
  const accountNos = [...balances.keys()];
  const values = accountNos.map((accountNo) => balances.get(accountNo)!.toString());
  await sql`
    update accounts set balance = next.balance
    from unnest(${accountNos}::text[], ${values}::numeric[]) as next(account_no, balance)
    where accounts.account_no = next.account_no`.execute(trx);
}

/**
 * Locks the batch's accounts (FOR UPDATE) in account-number order, the one
 * order every batch writer uses so two batches cannot deadlock, and returns
 * them by number; a number without a row is simply absent.
 */
export async function lockAccounts(
  trx: Transaction<ServiceDb>,
  accountNos: readonly string[],
): Promise<Map<string, LockedAccount>> {
  if (accountNos.length === 0) return new Map();
  const rows = await sql<{
    account_no: string;
    user_uuid: string;
    status: AccountStatus;
    balance: string;
  }>`
    select account_no, user_uuid, status, balance from accounts
    where account_no = any(${[...new Set(accountNos)].sort()}::text[])
    order by account_no
    for update`.execute(trx);
  return new Map(
    rows.rows.map((row) => [
      row.account_no,
      {
        accountNo: row.account_no,
        userUuid: row.user_uuid,
        status: row.status,
        balance: parseDbAmount(row.balance),
      },
    ]),
  );
}
