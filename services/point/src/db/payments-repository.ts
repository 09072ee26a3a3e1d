import assert from 'node:assert/strict';
import { inTransaction } from '@nuri/platform/db';
import { recordInbox } from '@nuri/platform/kafka/inbox';
import { enqueueOutbox, type OutboxMessage } from '@nuri/platform/kafka/outbox';
import { parseDbAmount } from '@nuri/platform/money';
import type { Kysely, Selectable, Transaction } from 'kysely';
import {
  applyDecision,
  decide,
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
import { isAnyDuplicateKey, isDuplicateKey, retryOnLockConflict } from './mysql-errors.ts';
import { deductPoints, refundPoints } from './wallet-ledger.ts';

/** Builds the payment.requested message for one attempt (events/ owns the envelope and topic). */
export type CashRequestBuilder = (payment: Payment, attempt: number) => OutboxMessage;

export interface PaymentRepositoryOptions {
  requestCash: CashRequestBuilder;
  retryPolicy: RetryPolicy;
  /** Tests move time; production reads the clock. */
  now?: () => Date;
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

  async function insertStarted(trx: Transaction<ServiceDb>, payment: Payment, nextAttemptAt: Date | null) {
    await trx
      .insertInto('payments')
      .values({
        payment_id: payment.paymentId,
        user_uuid: payment.userUuid,
        order_id: payment.orderId,
        account_no: payment.accountNo,
        cash_amount: payment.cashAmount,
        point_amount: payment.pointAmount,
        merchant: payment.merchant,
        status: payment.status,
        failure_code: null,
        attempts: payment.attempts,
        next_attempt_at: nextAttemptAt,
        stuck_at: null,
        created_at: payment.createdAt,
        settled_at: payment.settledAt,
      })
      .execute();
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
    try {
      return await retryOnLockConflict(() =>
        inTransaction(
          db,
          async (trx): Promise<StartPaymentResult> => {
            // Step 1 first: the wallet row lock orders one user's payments.
            for (const effect of decision.effects) {
              if (effect.type !== 'DEDUCT_POINTS') continue;
              const deducted = await deductPoints(trx, payment.userUuid, payment.paymentId, effect.amount);
              // Returning rolls nothing back by itself: throw so the transaction does.
              if (!deducted) throw new InsufficientPointsSignal();
            }
            const deadline =
              requested === undefined ? null : cashRequestDeadline(startedAt, requested.attempt, retryPolicy);
            await insertStarted(trx, payment, deadline);
            if (requested !== undefined) await enqueueOutbox(trx, [requestCash(payment, requested.attempt)]);
            return { kind: 'started', payment };
          },
          // The default level: every lock here is by key, and naming the level costs a round trip.
        ),
      );
    } catch (error) {
      if (error instanceof InsufficientPointsSignal) return { kind: 'insufficientPoints' };
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

  async function applyTransition(
    trx: Transaction<ServiceDb>,
    payment: Payment,
    decision: SagaDecision,
    at: Date,
  ): Promise<Payment> {
    if (decision.kind === 'ignored') return payment;
    let stuckAt: Date | undefined;
    for (const effect of decision.effects) {
      switch (effect.type) {
        case 'REFUND_POINTS':
          await refundPoints(trx, payment.userUuid, payment.paymentId, effect.amount);
          break;
        case 'REQUEST_CASH':
          await enqueueOutbox(trx, [requestCash(payment, effect.attempt)]);
          break;
        case 'REPORT_STUCK':
          stuckAt = at;
          break;
        case 'DEDUCT_POINTS':
          assert.fail('points are only deducted when a payment is accepted');
      }
    }
    const next = applyDecision(sagaStateOf(payment), decision);
    const terminal = next.status === 'COMPLETED' || next.status === 'FAILED';
    const requested = decision.effects.find((effect) => effect.type === 'REQUEST_CASH');
    // Conditional on the status we decided from: the row is locked, so a
    // mismatch is a bug, and failing rolls the effects back with it.
    const updated = await trx
      .updateTable('payments')
      .set({
        status: next.status as Payment['status'],
        attempts: next.attempts,
        ...(decision.failureCode === undefined ? {} : { failure_code: decision.failureCode }),
        ...(terminal ? { settled_at: at, next_attempt_at: null } : {}),
        ...(requested === undefined
          ? {}
          : { next_attempt_at: cashRequestDeadline(at, requested.attempt, retryPolicy) }),
        ...(stuckAt === undefined ? {} : { stuck_at: stuckAt }),
      })
      .where('payment_id', '=', payment.paymentId)
      .where('status', '=', payment.status)
      .where('attempts', '=', payment.attempts)
      .executeTakeFirst();
    assert.equal(Number(updated.numUpdatedRows), 1, `payment ${payment.paymentId} changed under its lock`);
    return {
      ...payment,
      status: next.status as Payment['status'],
      attempts: next.attempts,
      failureCode: decision.failureCode ?? payment.failureCode,
      settledAt: terminal ? at : payment.settledAt,
    };
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
          const at = now();
          const records: SettlementRecord[] = [];
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
            // Kept in the map so a second event for the same payment in this batch sees the new state.
            payments.set(payment.paymentId, await applyTransition(trx, payment, decision, at));
            records.push({ paymentId: payment.paymentId, decision });
          }
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
        await applyTransition(trx, payment, decision, at);
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
      return counts;
    },
  };
}

/** Unwinds the acceptance transaction when step 1 finds too few points. */
class InsufficientPointsSignal extends Error {
  constructor() {
    super('insufficient points');
    this.name = 'InsufficientPointsSignal';
  }
}
