import type { PaymentsOverview } from '@nuri/contracts/operations';
import { amountToJson, parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql } from 'kysely';
import type { PaymentStatus } from '../domain/payment-saga.ts';
import type { ReconciliationStore } from '../domain/settlement.ts';
import type { ServiceDb } from './database.ts';

/** PENDING and either marked by the timeout job, or out of attempts and overdue but not marked yet. */
function stuckPaymentsQuery(db: Kysely<ServiceDb>, attemptsMax: number, now: Date) {
  return db
    .selectFrom('payments')
    .where('status', '=', 'PENDING')
    .where((eb) =>
      eb.or([
        eb('stuck_at', 'is not', null),
        eb.and([eb('attempts', '>=', attemptsMax), eb('next_attempt_at', '<=', now)]),
      ]),
    )
    .orderBy('created_at');
}

/** GET /internal/v1/ops/payments: payments by status, and the stuck ones with their amounts (oldest first). */
export async function readPaymentsOverview(
  db: Kysely<ServiceDb>,
  attemptsMax: number,
  now: Date,
  stuckListedMax: number,
): Promise<PaymentsOverview> {
  const [counts, stuck] = await Promise.all([
    db
      .selectFrom('payments')
      .select(['status', (eb) => eb.fn.countAll<string>().as('payments')])
      .groupBy('status')
      .execute(),
    stuckPaymentsQuery(db, attemptsMax, now)
      .select(['payment_id', 'status', 'cash_amount', 'point_amount', 'created_at'])
      .limit(stuckListedMax)
      .execute(),
  ]);
  const byStatus = { PENDING: 0, COMPLETED: 0, FAILED: 0 };
  for (const row of counts) byStatus[row.status] = Number(row.payments);
  return {
    byStatus,
    stuck: stuck.map((row) => ({
      paymentId: row.payment_id,
      status: row.status,
      cashAmount: amountToJson(parseDbAmount(row.cash_amount)),
      pointAmount: amountToJson(parseDbAmount(row.point_amount)),
      createdAt: row.created_at.toISOString(),
    })),
  };
}

/** Read-only checks behind GET /internal/v1/reconciliation. */
export function createReconciliationStore(db: Kysely<ServiceDb>, attemptsMax: number): ReconciliationStore {
  return {
    async stuckPayments(now, limit) {
      const rows = await stuckPaymentsQuery(db, attemptsMax, now)
        .select(['payment_id', 'created_at', 'attempts'])
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        paymentId: row.payment_id,
        createdAt: row.created_at,
        attempts: row.attempts,
      }));
    },

    async countPendingOlderThan(cutoff) {
      const row = await db
        .selectFrom('payments')
        .select((eb) => eb.fn.countAll<string>().as('overdue'))
        .where('status', '=', 'PENDING')
        .where('created_at', '<', cutoff)
        .executeTakeFirstOrThrow();
      return Number(row.overdue);
    },

    async walletMismatches(limit) {
      // Both directions: a wallet whose history disagrees, and history without a wallet.
      const result = await sql<{ user_uuid: string; balance: string; expected: string }>`
        select u.user_uuid, coalesce(w.balance, 0) as balance, coalesce(h.expected, 0) as expected
        from (select user_uuid from point_wallets union select distinct user_uuid from point_history) u
        left join point_wallets w on w.user_uuid = u.user_uuid
        left join (
          select user_uuid,
                 sum(case type when 'USE' then -amount else amount end) as expected
          from point_history group by user_uuid
        ) h on h.user_uuid = u.user_uuid
        where coalesce(w.balance, 0) <> coalesce(h.expected, 0)
        limit ${limit}`.execute(db);
      return result.rows.map((row) => ({
        userUuid: row.user_uuid,
        balance: parseDbAmount(row.balance),
        expected: parseDbAmount(row.expected),
      }));
    },

    async paymentMismatches(limit) {
      // A payment that used points has exactly one USE row of that amount, and
      // a REFUND row of that amount exactly when it FAILED; no row names a payment that does not exist.
      const result = await sql<{ payment_id: string; status: PaymentStatus | null; problem: string }>`
        select p.payment_id, p.status,
          case
            when p.point_amount > 0 and (u.amount is null or u.amount <> p.point_amount) then 'USE_MISSING_OR_WRONG'
            when p.point_amount = 0 and u.id is not null then 'USE_WITHOUT_POINTS'
            when p.status = 'FAILED' and p.point_amount > 0 and (r.amount is null or r.amount <> p.point_amount)
              then 'REFUND_MISSING_OR_WRONG'
            when p.status <> 'FAILED' and r.id is not null then 'REFUND_WITHOUT_FAILURE'
          end as problem
        from payments p
        left join point_history u on u.payment_id = p.payment_id and u.type = 'USE'
        left join point_history r on r.payment_id = p.payment_id and r.type = 'REFUND'
        having problem is not null
        union all
        select h.payment_id, null, 'HISTORY_WITHOUT_PAYMENT'
        from point_history h left join payments p on p.payment_id = h.payment_id
        where h.payment_id is not null and p.payment_id is null
        limit ${limit}`.execute(db);
      return result.rows.map((row) => ({
        paymentId: row.payment_id,
        status: row.status,
        problem: row.problem,
      }));
    },
  };
}
