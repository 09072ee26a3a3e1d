import assert from 'node:assert/strict';
import { uuidv7 } from '@nuri/platform/ids';
import { BALANCE_MAX, parseDbAmount } from '@nuri/platform/money';
import { sql, type Transaction } from 'kysely';
import type { PointEntryType } from '../domain/points.ts';
import type { ServiceDb } from './database.ts';

// Every wallet change goes through here: the balance and its history row in
// the caller's transaction, so Σ history = balance holds row by row.

async function balanceInTransaction(trx: Transaction<ServiceDb>, userUuid: string): Promise<bigint> {
  // The row is locked by our own UPDATE, so this reads the value we wrote.
  const row = await trx
    .selectFrom('point_wallets')
    .select('balance')
    .where('user_uuid', '=', userUuid)
    .executeTakeFirstOrThrow();
  return parseDbAmount(row.balance);
}

async function appendHistory(
  trx: Transaction<ServiceDb>,
  entry: {
    userUuid: string;
    type: PointEntryType;
    amount: bigint;
    balanceAfter: bigint;
    paymentId: string | null;
    /** A caller-chosen id (a charge's operation id) makes a repeated charge a duplicate key. */
    id?: string;
  },
): Promise<void> {
  await trx
    .insertInto('point_history')
    .values({
      id: entry.id ?? uuidv7(),
      user_uuid: entry.userUuid,
      type: entry.type,
      amount: entry.amount,
      balance_after: entry.balanceAfter,
      payment_id: entry.paymentId,
    })
    .execute();
}

/**
 * Adds a charge; undefined (nothing written) when the balance would pass its
 * cap. `chargeId` becomes the CHARGE row's id, so the same charge applied
 * twice fails on the primary key and its transaction rolls back.
 */
export async function creditCharge(
  trx: Transaction<ServiceDb>,
  userUuid: string,
  amount: bigint,
  chargeId: string,
): Promise<bigint | undefined> {
  await sql`insert ignore into point_wallets (user_uuid, balance) values (${userUuid}, 0)`.execute(trx);
  const updated = await sql`update point_wallets set balance = balance + ${amount.toString()}
    where user_uuid = ${userUuid} and balance + ${amount.toString()} <= ${BALANCE_MAX.toString()}`.execute(
    trx,
  );
  if (Number(updated.numAffectedRows ?? 0n) !== 1) return undefined;
  const balanceAfter = await balanceInTransaction(trx, userUuid);
  await appendHistory(trx, { userUuid, type: 'CHARGE', amount, balanceAfter, paymentId: null, id: chargeId });
  return balanceAfter;
}

/** Saga step 1: one conditional statement; false (nothing written) when the wallet does not cover it. */
export async function deductPoints(
  trx: Transaction<ServiceDb>,
  userUuid: string,
  paymentId: string,
  amount: bigint,
): Promise<boolean> {
  // MariaDB has no UPDATE … RETURNING: the new balance is kept in a session
  // variable by the UPDATE itself and read back by the history INSERT, which
  // saves a round trip on the hottest path (the row stays locked between them).
  const updated = await sql`update point_wallets
    set balance = (@point_balance_after := balance - ${amount.toString()})
    where user_uuid = ${userUuid} and balance >= ${amount.toString()}`.execute(trx);
  if (Number(updated.numAffectedRows ?? 0n) !== 1) return false;
  await appendHistoryWithSessionBalance(trx, { userUuid, type: 'USE', amount, paymentId });
  return true;
}

/** Compensation of step 1. The UNIQUE(payment_id, type) key refuses a second refund of one payment. */
export async function refundPoints(
  trx: Transaction<ServiceDb>,
  userUuid: string,
  paymentId: string,
  amount: bigint,
): Promise<void> {
  const updated = await sql`update point_wallets
    set balance = (@point_balance_after := balance + ${amount.toString()})
    where user_uuid = ${userUuid}`.execute(trx);
  // The points were deducted from this wallet, so it exists: anything else is a bug.
  assert.equal(
    Number(updated.numAffectedRows ?? 0n),
    1,
    `refund of ${paymentId}: wallet of ${userUuid} missing`,
  );
  await appendHistoryWithSessionBalance(trx, { userUuid, type: 'REFUND', amount, paymentId });
}

async function appendHistoryWithSessionBalance(
  trx: Transaction<ServiceDb>,
  entry: { userUuid: string; type: PointEntryType; amount: bigint; paymentId: string },
): Promise<void> {
  await sql`insert into point_history (id, user_uuid, type, amount, balance_after, payment_id)
    values (${uuidv7()}, ${entry.userUuid}, ${entry.type}, ${entry.amount.toString()}, @point_balance_after, ${entry.paymentId})`.execute(
    trx,
  );
}
