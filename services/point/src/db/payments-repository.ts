import assert from 'node:assert/strict';
import { inTransaction } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { recordInbox } from '@nuri/platform/kafka/inbox';
import {
  enqueueOutbox,
  type OutboxMessage,
  type OutboxNotifier,
  outboxRowOf,
} from '@nuri/platform/kafka/outbox';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, type Selectable, sql, type Transaction, type Updateable } from 'kysely';
import {
  applyDecision,
  decide,
  isTerminal,
  type SagaDecision,
  type SagaEvent,
  type SagaState,
} from '../domain/payment-saga.ts';
import {
  cashRequestDeadline,
  type NewPayment,
  type Payment,
  type PaymentStore,
  type RetryPolicy,
  type StartPaymentResult,
} from '../domain/payments.ts';
import type { CashOutcome, SettlementRecord, SettlementStore, TimeoutStore } from '../domain/settlement.ts';
import type { PaymentsTable, ServiceDb } from './database.ts';
import {
  insufficientPointsSignal,
  isAnyDuplicateKey,
  isDuplicateKey,
  isSignalled,
  paymentExistsSignal,
  retryOnLockConflict,
} from './mysql-errors.ts';
import { type PointRefund, refundPoints } from './wallet-ledger.ts';

/** Builds the payment.requested message for one attempt (events/ owns the envelope and topic). */
export type CashRequestBuilder = (payment: Payment, attempt: number) => OutboxMessage;

export interface PaymentRepositoryOptions {
  requestCash: CashRequestBuilder;
  retryPolicy: RetryPolicy;
  /** Tests move time; production reads the clock. */
  now?: () => Date;
  /** Told after each commit that wrote a cash request, so this process's relay sends it at once. */
  notifier?: OutboxNotifier;
}

/** Raised when a settled event names a payment point never made; the consumer dead-letters it. */
export class UnknownPaymentError extends Error {
  readonly paymentId: string;
  constructor(paymentId: string) {
    super(`payment.settled for unknown payment ${paymentId}`);
    this.name = 'UnknownPaymentError';
    this.paymentId = paymentId;
  }
}

export function toPayment(row: Selectable<PaymentsTable>): Payment {
  return {
    paymentId: row.payment_id,
    userUuid: row.user_uuid,
    orderId: row.order_id,
    accountNo: row.account_no,
    cashAmount: parseDbAmount(row.cash_amount),
    pointAmount: parseDbAmount(row.point_amount),
    merchant: row.merchant,
    status: row.status,
    failureCode: row.failure_code,
    attempts: row.attempts,
    createdAt: row.created_at,
    settledAt: row.settled_at,
  };
}

function sagaStateOf(payment: Payment): SagaState {
  return {
    status: payment.status,
    cashAmount: payment.cashAmount,
    pointAmount: payment.pointAmount,
    attempts: payment.attempts,
  };
}

// READ COMMITTED: every statement here locks by primary key, and gap locks
// (REPEATABLE READ's default) would only add deadlocks between concurrent
// payments of different users.
const isolation = { isolationLevel: 'read committed' } as const;

export function createPaymentRepository(
  db: Kysely<ServiceDb>,
  options: PaymentRepositoryOptions,
): PaymentStore & SettlementStore & TimeoutStore {
  const now = options.now ?? (() => new Date());
  const { requestCash, retryPolicy } = options;

  async function lockRows(
    trx: Transaction<ServiceDb>,
    paymentIds: string[],
  ): Promise<Map<string, Selectable<PaymentsTable>>> {
    if (paymentIds.length === 0) return new Map();
    // Sorted, so two transactions locking overlapping sets take the locks in the same order.
    const rows = await trx
      .selectFrom('payments')
      .selectAll()
      .where('payment_id', 'in', [...new Set(paymentIds)].sort())
      .orderBy('payment_id')
      .forUpdate()
      .execute();
    return new Map(rows.map((row) => [row.payment_id, row]));
  }

  async function lockPayments(
    trx: Transaction<ServiceDb>,
    paymentIds: string[],
  ): Promise<Map<string, Payment>> {
    const rows = await lockRows(trx, paymentIds);
    return new Map([...rows].map(([paymentId, row]) => [paymentId, toPayment(row)]));
  }

  async function findPayment(paymentId: string): Promise<Payment | undefined> {
    const row = await db
      .selectFrom('payments')
      .selectAll()
      .where('payment_id', '=', paymentId)
      .executeTakeFirst();
    return row === undefined ? undefined : toPayment(row);
  }

  async function start(input: NewPayment, decision: SagaDecision): Promise<StartPaymentResult> {
    assert.ok(decision.kind === 'transition' && decision.from === 'NEW', 'start needs the ACCEPTED decision');
    const startedAt = now();
    const requested = decision.effects.find((effect) => effect.type === 'REQUEST_CASH');
    const payment: Payment = {
      ...input,
      status: decision.to,
      failureCode: null,
      attempts: requested?.attempt ?? 0,
      createdAt: startedAt,
      settledAt: decision.to === 'COMPLETED' ? startedAt : null,
    };
    const deduct = decision.effects.find((effect) => effect.type === 'DEDUCT_POINTS')?.amount ?? 0n;
    const cashRequest =
      requested === undefined ? undefined : outboxRowOf(requestCash(payment, requested.attempt));
    const deadline =
      requested === undefined ? null : cashRequestDeadline(startedAt, requested.attempt, retryPolicy);
    try {
      // The whole acceptance in one round trip and one transaction (migrations.ts, start_payment):
      // step 1 first, since the wallet row lock orders one user's payments.
      await retryOnLockConflict(() =>
        sql`call start_payment(
          ${payment.paymentId}, ${payment.userUuid}, ${payment.orderId}, ${payment.accountNo},
          ${payment.cashAmount.toString()}, ${payment.pointAmount.toString()}, ${payment.merchant},
          ${payment.status}, ${payment.attempts}, ${deadline}, ${payment.createdAt}, ${payment.settledAt},
          ${deduct.toString()}, ${uuidv7()},
          ${cashRequest?.id ?? null}, ${cashRequest?.topic ?? null}, ${cashRequest?.key ?? null},
          ${cashRequest?.payload ?? null})`.execute(db),
      );
      if (cashRequest !== undefined) options.notifier?.notify();
      return { kind: 'started', payment };
    } catch (error) {
      if (isSignalled(error, paymentExistsSignal)) {
        // A retry of this very payment (its answer was lost): found before the wallet was looked at.
        const existing = await findPayment(payment.paymentId);
        if (existing !== undefined && existing.userUuid === payment.userUuid)
          return { kind: 'started', payment: existing };
      }
      if (isSignalled(error, insufficientPointsSignal)) return { kind: 'insufficientPoints' };
      if (isAnyDuplicateKey(error)) {
        // The payment id is the request's idempotency operation id: a retry
        // after a lost answer meets its own payment (its USE row, its id) and
        // gets that payment back instead of paying twice.
        const existing = await findPayment(payment.paymentId);
        if (existing !== undefined && existing.userUuid === payment.userUuid)
          return { kind: 'started', payment: existing };
      }
      if (isDuplicateKey(error, 'payments_user_order')) return { kind: 'duplicateOrder' };
      throw error;
    }
  }

  /**
   * Carries out decisions taken in this transaction (the rows are locked), each
   * given with the state it was decided from, with a fixed handful of
   * statements whatever their number: the refunds, the re-sent cash requests,
   * then one conditional UPDATE per kind of status change. Several decisions
   * about one payment fold into one change from the row as locked.
   */
  async function applyTransitions(
    trx: Transaction<ServiceDb>,
    transitions: ReadonlyArray<{ payment: Payment; decision: SagaDecision }>,
    at: Date,
  ): Promise<void> {
    const refunds: PointRefund[] = [];
    const cashRequests: OutboxMessage[] = [];
    const changes = new Map<string, { locked: Payment; set: PaymentChange }>();
    for (const { payment, decision } of transitions) {
      if (decision.kind === 'ignored') continue;
      const change = changes.get(payment.paymentId) ?? { locked: payment, set: {} };
      for (const effect of decision.effects) {
        switch (effect.type) {
          case 'REFUND_POINTS':
            refunds.push({ userUuid: payment.userUuid, paymentId: payment.paymentId, amount: effect.amount });
            break;
          case 'REQUEST_CASH':
            cashRequests.push(requestCash(payment, effect.attempt));
            change.set.next_attempt_at = cashRequestDeadline(at, effect.attempt, retryPolicy);
            // A payment reported stuck that an operator retries is in play again.
            change.set.stuck_at = null;
            break;
          case 'REPORT_STUCK':
            change.set.stuck_at = at;
            break;
          case 'DEDUCT_POINTS':
            assert.fail('points are only deducted when a payment is accepted');
        }
      }
      const next = applyDecision(sagaStateOf(payment), decision);
      change.set.status = next.status as Payment['status'];
      change.set.attempts = next.attempts;
      if (decision.failureCode !== undefined) change.set.failure_code = decision.failureCode;
      if (isTerminal(next.status)) Object.assign(change.set, { settled_at: at, next_attempt_at: null });
      changes.set(payment.paymentId, change);
    }
    await refundPoints(trx, refunds);
    if (cashRequests.length > 0) await enqueueOutbox(trx, cashRequests);
    // Payments with the same change (typically: all COMPLETED, all FAILED with one code) share an UPDATE.
    const groups = new Map<string, { set: PaymentChange; locked: Payment; ids: string[] }>();
    for (const [paymentId, { locked, set }] of changes) {
      const key = JSON.stringify([locked.status, locked.attempts, set]);
      const group = groups.get(key) ?? { set, locked, ids: [] };
      group.ids.push(paymentId);
      groups.set(key, group);
    }
    for (const { set, locked, ids } of groups.values()) {
      // Conditional on the state we decided from: the rows are locked, so a
      // mismatch is a bug, and failing rolls the effects back with it.
      const updated = await trx
        .updateTable('payments')
        .set(set)
        .where('payment_id', 'in', ids)
        .where('status', '=', locked.status)
        .where('attempts', '=', locked.attempts)
        .executeTakeFirst();
      assert.equal(
        Number(updated.numUpdatedRows),
        ids.length,
        `payments ${ids.join(', ')} changed under their lock`,
      );
    }
  }

  async function settle(consumer: string, outcomes: readonly CashOutcome[]): Promise<SettlementRecord[]> {
    return retryOnLockConflict(() =>
      inTransaction(
        db,
        async (trx) => {
          const fresh = new Set(
            await recordInbox(
              trx,
              consumer,
              outcomes.map((outcome) => outcome.eventId),
            ),
          );
          const toApply = outcomes.filter((outcome) => fresh.has(outcome.eventId));
          const payments = await lockPayments(
            trx,
            toApply.map((outcome) => outcome.paymentId),
          );
          const records: SettlementRecord[] = [];
          const transitions: Array<{ payment: Payment; decision: SagaDecision }> = [];
          for (const outcome of toApply) {
            const payment = payments.get(outcome.paymentId);
            if (payment === undefined || payment.userUuid !== outcome.userUuid) {
              throw new UnknownPaymentError(outcome.paymentId);
            }
            const event: SagaEvent =
              outcome.outcome.status === 'SUCCEEDED'
                ? { type: 'CASH_SUCCEEDED' }
                : { type: 'CASH_FAILED', failureCode: outcome.outcome.failureCode };
            const decision = decide(sagaStateOf(payment), event);
            transitions.push({ payment, decision });
            // Kept in the map so a second event for the same payment in this batch sees the new state.
            if (decision.kind === 'transition') {
              const next = applyDecision(sagaStateOf(payment), decision);
              payments.set(payment.paymentId, {
                ...payment,
                status: next.status as Payment['status'],
                attempts: next.attempts,
              });
            }
            records.push({ paymentId: payment.paymentId, decision });
          }
          await applyTransitions(trx, transitions, now());
          return records;
        },
        isolation,
      ),
    );
  }

  async function handleOneOverdue(paymentId: string, at: Date): Promise<'resent' | 'stuck' | 'skipped'> {
    return inTransaction(
      db,
      async (trx) => {
        const row = (await lockRows(trx, [paymentId])).get(paymentId);
        // Settled, re-sent by another instance, or already reported since the scan read it.
        if (row === undefined || row.status !== 'PENDING' || row.stuck_at !== null) return 'skipped';
        if (row.next_attempt_at === null || row.next_attempt_at > at) return 'skipped';
        const payment = toPayment(row);
        const decision = decide(sagaStateOf(payment), {
          type: 'CASH_TIMED_OUT',
          attemptsMax: retryPolicy.attemptsMax,
        });
        await applyTransitions(trx, [{ payment, decision }], at);
        const resent =
          decision.kind === 'transition' && decision.effects.some((effect) => effect.type === 'REQUEST_CASH');
        return resent ? 'resent' : 'stuck';
      },
      isolation,
    );
  }

  return {
    start,
    settle,

    find: findPayment,

    async retryStuck(paymentId, at) {
      const outcome = await retryOnLockConflict(() =>
        inTransaction(
          db,
          async (trx): Promise<'retried' | 'notFound' | 'notStuck'> => {
            const row = (await lockRows(trx, [paymentId])).get(paymentId);
            if (row === undefined) return 'notFound';
            if (row.status !== 'PENDING' || row.stuck_at === null) return 'notStuck';
            const payment = toPayment(row);
            const decision = decide(sagaStateOf(payment), { type: 'OPERATOR_RETRY' });
            await applyTransitions(trx, [{ payment, decision }], at);
            return 'retried';
          },
          isolation,
        ),
      );
      if (outcome === 'retried') options.notifier?.notify();
      return outcome;
    },

    async handleOverdue(at, batchSizeMax) {
      const overdue = await db
        .selectFrom('payments')
        .select('payment_id')
        .where('status', '=', 'PENDING')
        .where('next_attempt_at', '<=', at)
        .where('stuck_at', 'is', null)
        .orderBy('next_attempt_at')
        .limit(batchSizeMax)
        .execute();
      const counts = { resent: 0, stuck: 0 };
      for (const { payment_id: paymentId } of overdue) {
        const result = await retryOnLockConflict(() => handleOneOverdue(paymentId, at));
        if (result !== 'skipped') counts[result] += 1;
      }
      if (counts.resent > 0) options.notifier?.notify();
      return counts;
    },
  };
}

/** The columns a saga transition may change. */
type PaymentChange = Partial<
  Pick<
    Updateable<PaymentsTable>,
    'status' | 'attempts' | 'failure_code' | 'settled_at' | 'next_attempt_at' | 'stuck_at'
  >
>;
