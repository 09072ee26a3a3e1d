import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql } from 'kysely';
import { internalAccounts } from '../domain/ledger.ts';
import type { StoredWithdrawal, WithdrawalStore, WithdrawResult } from '../domain/withdrawals.ts';
import type { ServiceDb } from './database.ts';

interface WithdrawRow {
  balance_after: string | null;
  replay: boolean;
  owner: string | null;
  account_status: 'ACTIVE' | 'CLOSED' | null;
}

const uniqueViolation = '23505';
const idempotencyConstraint = 'withdrawals_user_key';

export function createWithdrawalStore(db: Kysely<ServiceDb>): WithdrawalStore {
  async function findStored(userUuid: string, idempotencyKey: string): Promise<StoredWithdrawal> {
    const row = await db
      .selectFrom('withdrawals')
      .selectAll()
      .where('user_uuid', '=', userUuid)
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirstOrThrow();
    return {
      withdrawalId: row.withdrawal_id,
      accountNo: row.account_no,
      amount: parseDbAmount(row.amount),
      status: row.status,
      failureCode: row.failure_code,
      balanceAfter: row.balance_after === null ? null : parseDbAmount(row.balance_after),
    };
  }

  return {
    async withdraw(input): Promise<WithdrawResult> {
      let row: WithdrawRow | undefined;
      try {
        row = await withdrawStatement(db, input);
      } catch (error) {
        // A concurrent request with the same key committed first: our whole
        // statement (debit included) rolled back, and theirs is the answer.
        if (!isUniqueViolation(error, idempotencyConstraint)) throw error;
        return { kind: 'replay', stored: await findStored(input.userUuid, input.idempotencyKey) };
      }
      if (row.replay)
        return { kind: 'replay', stored: await findStored(input.userUuid, input.idempotencyKey) };
      if (row.balance_after !== null)
        return { kind: 'succeeded', balanceAfter: parseDbAmount(row.balance_after) };
      if (row.owner === null || row.owner !== input.userUuid) return { kind: 'accountNotFound' };
      if (row.account_status !== 'ACTIVE') return { kind: 'accountClosed' };
      return { kind: 'insufficientBalance' };
    },
  };
}

/**
 * The whole withdrawal as ONE statement (in the withdraw_once function, whose
 * plan PostgreSQL caches; see migrations.ts), so it costs one round trip and is
 * atomic without an explicit transaction:
 * - `debit` is the conditional update (`balance >= amount`), never read-then-write;
 *   it runs only when this (user, key) has no outcome yet;
 * - the ledger transaction and both legs are inserted only when the debit matched;
 * - `claim` records the outcome under the (user_uuid, idempotency_key) key: a
 *   concurrent twin fails on it and its debit rolls back with it;
 * - `account` (the statement's snapshot) tells a refused debit's reason apart:
 *   missing/foreign (not recorded, 404) vs lack of funds (recorded, replayed).
 */
async function withdrawStatement(
  db: Kysely<ServiceDb>,
  input: Parameters<WithdrawalStore['withdraw']>[0],
): Promise<WithdrawRow> {
  const [customerEntryId, contraEntryId] = input.entryIds;
  const result = await sql<WithdrawRow>`
    select out_balance_after as balance_after, out_replay as replay, out_owner as owner,
           out_account_status as account_status
    from withdraw_once(${input.withdrawalId}::uuid, ${input.transactionId}::uuid, ${customerEntryId}::uuid,
                       ${contraEntryId}::uuid, ${input.userUuid}::uuid, ${input.idempotencyKey}::varchar,
                       ${input.accountNo}::varchar, ${input.amount.toString()}::numeric,
                       ${internalAccounts.cashOut}::varchar)`.execute(db);
  return result.rows[0]!;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const candidate = error as { code?: unknown; constraint?: unknown };
  return (
    candidate.code === uniqueViolation && (constraint === undefined || candidate.constraint === constraint)
  );
}
