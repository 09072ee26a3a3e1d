import assert from 'node:assert/strict';
import { uuidv7 } from '@nuri/platform/ids';
import { BALANCE_MAX, parseDbAmount } from '@nuri/platform/money';
import { sql, type Transaction } from 'kysely';
import type { PointEntryType } from '../domain/points.ts';
import type { ServiceDb } from './database.ts';

// Every wallet change goes through here: the balance and its history row in
// the caller's transaction, so Σ history = balance holds row by row. The one
// exception is saga step 1, the deduction with its USE row, which the
// start_payments procedure (migrations.ts) makes inside the acceptance's single
// round trip under the same rule.

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
    /** A charge's operation id: unique, so a repeated charge is a duplicate key. */
    chargeId?: string;
  },
): Promise<void> {
  await trx
    .insertInto('point_history')
    .values({
      // Always new, so the id orders the history by when each row was written.
      id: uuidv7(),
      user_uuid: entry.userUuid,
      type: entry.type,
      amount: entry.amount,
      balance_after: entry.balanceAfter,
      payment_id: entry.paymentId,
      charge_id: entry.chargeId ?? null,
    })
    .execute();
}

/**
 * Adds a charge; undefined (nothing written) when the balance would pass its
 * cap. `chargeId` is kept on the CHARGE row (unique; the row's own id is
 * new, so the history stays in the order rows were written): a charge
 * applied before (a retry whose first answer was lost) is found before the
 * cap is looked at, and answers the balance as it is; two at once still meet
 * on the unique key.
 *
 * The cap counts the points that payments still in progress took, as if
 * they were in the wallet: they come back if the payment's cash fails, and
 * that refund must always fit. So balance + points held ≤ cap holds at every
 * step — a deduction moves points from one to the other, a completion drops
 * them, a refund moves them back, and a charge is checked here under the
 * wallet's lock (which every deduction and refund also takes), reading
 * committed rows (the caller runs it at READ COMMITTED). The sum reads the
 * user's payments by the (user_uuid, order_id) key: one user's history, at
 * charge time only — an index on (user_uuid, status) would cost every
 * payment's writes instead. Wallets charged before this rule could already
 * hold more than it allows; a refund that would pass the cap is refused by
 * the table's CHECK and its settlement retried, then dead-lettered.
 */
export async function creditCharge(
  trx: Transaction<ServiceDb>,
  userUuid: string,
  amount: bigint,
  chargeId: string,
): Promise<bigint | undefined> {
  // The wallet row is created if need be and locked exclusively from the
  // start: INSERT IGNORE leaves a shared lock on an existing row, and two
  // charges that each held one deadlocked on their UPDATE.
  await sql`insert into point_wallets (user_uuid, balance) values (${userUuid}, 0)
    on duplicate key update balance = balance`.execute(trx);
  const applied = await trx
    .selectFrom('point_history')
    .select('id')
    .where('charge_id', '=', chargeId)
    .executeTakeFirst();
  if (applied !== undefined) return balanceInTransaction(trx, userUuid);
  const held = await sql<{ held: string | number }>`
    select coalesce(sum(point_amount), 0) as held from payments
    where user_uuid = ${userUuid} and status = 'PENDING'`.execute(trx);
  const room = BALANCE_MAX - parseDbAmount(held.rows[0]?.held ?? 0);
  const updated = await sql`update point_wallets set balance = balance + ${amount.toString()}
    where user_uuid = ${userUuid} and balance + ${amount.toString()} <= ${room.toString()}`.execute(trx);
  if (Number(updated.numAffectedRows ?? 0n) !== 1) return undefined;
  const balanceAfter = await balanceInTransaction(trx, userUuid);
  await appendHistory(trx, { userUuid, type: 'CHARGE', amount, balanceAfter, paymentId: null, chargeId });
  return balanceAfter;
}

export interface PointRefund {
  userUuid: string;
  paymentId: string;
  amount: bigint;
}

/**
 * Compensation of step 1, for a batch of payments with a fixed three
 * statements (lock the wallets in key order, set the balances, add the
 * REFUND rows), so settling a batch costs no round trip per payment. The
 * UNIQUE(payment_id, type) key refuses a second refund of one payment.
 */
export async function refundPoints(
  trx: Transaction<ServiceDb>,
  refunds: readonly PointRefund[],
): Promise<void> {
  if (refunds.length === 0) return;
  const users = [...new Set(refunds.map((refund) => refund.userUuid))].sort();
  const locked = await trx
    .selectFrom('point_wallets')
    .select(['user_uuid', 'balance'])
    .where('user_uuid', 'in', users)
    .orderBy('user_uuid')
    .forUpdate()
    .execute();
  const balances = new Map(locked.map((row) => [row.user_uuid, parseDbAmount(row.balance)]));
  const rows = refunds.map((refund) => {
    const balance = balances.get(refund.userUuid);
    // The points were deducted from this wallet, so it exists: anything else is a bug.
    assert.ok(balance !== undefined, `refund of ${refund.paymentId}: wallet of ${refund.userUuid} missing`);
    const balanceAfter = balance + refund.amount;
    balances.set(refund.userUuid, balanceAfter);
    return {
      id: uuidv7(),
      user_uuid: refund.userUuid,
      type: 'REFUND' as const,
      amount: refund.amount,
      balance_after: balanceAfter,
      payment_id: refund.paymentId,
    };
  });
  const cases = sql.join(
    users.map((user) => sql`when ${user} then ${balances.get(user)!.toString()}`),
    sql` `,
  );
  await sql`update point_wallets set balance = case user_uuid ${cases} end
    where user_uuid in (${sql.join(users)})`.execute(trx);
  await trx.insertInto('point_history').values(rows).execute();
}
