import assert from 'node:assert/strict';
import { inTransaction } from '@nuri/platform/db';
import { AppError } from '@nuri/platform/errors';
import { createGroupCommit, GroupCommitFullError } from '@nuri/platform/group-commit';
import { keyRow } from '@nuri/platform/idempotency';
import { uuidv7 } from '@nuri/platform/ids';
import {
  enqueueOutbox,
  type OutboxMessage,
  type OutboxNotifier,
  outboxRowOf,
} from '@nuri/platform/kafka/outbox';
import { parseDbAmount } from '@nuri/platform/money';
import { isTransientInfrastructureError } from '@nuri/platform/transient';
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
  type PaymentKey,
  type PaymentStore,
  type RetryPolicy,
  type StartPaymentResult,
} from '../domain/payments.ts';
import type { CashOutcome, SettlementRecord, SettlementStore, TimeoutStore } from '../domain/settlement.ts';
import type { PaymentsTable, ServiceDb } from './database.ts';
import { retryOnLockConflict } from './mysql-errors.ts';
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
  /** How acceptances are gathered into calls of start_payments; defaultStartBatching unless a test says. */
  startBatching?: StartBatching;
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

/** One acceptance on its way to start_payments (migrations.ts): what start_payment's parameters carry. */
interface StartItem {
  payment: Payment;
  /** Step 1's deduction; 0 when the payment uses no points. */
  deduct: bigint;
  /** The USE row's id. */
  useId: string;
  /** The first cash request's outbox row; none when no cash is asked. */
  cashRequest: ReturnType<typeof outboxRowOf> | undefined;
  /** When that request counts as unanswered. */
  deadline: Date | null;
  /** The Idempotency-Key's row, bound in the same transaction to the answer the payment gets. */
  boundKey: ReturnType<typeof keyRow> | undefined;
}

/** start_payments' outcome per item, or ALONE: the batch failed as a whole, so the item is tried by itself. */
type BatchOutcome = 'STARTED' | 'EXISTS' | 'KEY_TAKEN' | 'INSUFFICIENT' | 'DUPLICATE' | 'ALONE';

const batchOutcomes = new Set<string>(['STARTED', 'EXISTS', 'KEY_TAKEN', 'INSUFFICIENT', 'DUPLICATE']);

/** Acceptances gathered per call of start_payments. */
export interface StartBatching {
  batchSizeMax: number;
  /** Batches running at once (each on its own connection), one user's payments always in one lane. */
  lanes: number;
  /** Acceptances waiting for a batch; one more is answered 503 SERVICE_UNAVAILABLE. */
  queueLengthMax: number;
}

export const defaultStartBatching: StartBatching = { batchSizeMax: 64, lanes: 2, queueLengthMax: 1_000 };

/** MariaDB's DATETIME(3) text of an instant, in UTC like every date this pool sends (db.ts). */
function datetimeText(at: Date): string {
  return at.toISOString().slice(0, 23).replace('T', ' ');
}

/**
 * One call of start_payments for the batch, its items sorted by user so the
 * wallet locks are taken in key order; answers each item's outcome in the
 * items' own order. A lost lock race is run again; a batch of several that
 * fails otherwise — a value the database refuses, say, but not the database
 * being away — answers ALONE for each, so one bad payment does not fail the
 * others.
 */
async function startBatch(db: Kysely<ServiceDb>, items: readonly StartItem[]): Promise<BatchOutcome[]> {
  const order = items.map((_, index) => index);
  order.sort((a, b) => compareText(items[a]!.payment.userUuid, items[b]!.payment.userUuid) || a - b);
  const json = JSON.stringify(order.map((index) => startItemJson(items[index]!)));
  let outcomes: string[];
  try {
    const result = await retryOnLockConflict(() => sql`call start_payments(${json})`.execute(db));
    outcomes = outcomesOf(result.rows);
  } catch (error) {
    // The database away or too slow: one call per payment would only add to it; each fails as the batch did.
    if (items.length === 1 || isTransientInfrastructureError(error)) throw error;
    return items.map(() => 'ALONE');
  }
  assert.equal(outcomes.length, items.length, 'start_payments answers one outcome per item');
  const answers: BatchOutcome[] = new Array(items.length);
  order.forEach((index, position) => {
    const outcome = outcomes[position]!;
    assert.ok(batchOutcomes.has(outcome), `start_payments answered ${outcome}`);
    answers[index] = outcome as BatchOutcome;
  });
  return answers;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** start_payments' item: a null field is left out (JSON_TABLE reads a missing path as NULL). */
function startItemJson({
  payment,
  deduct,
  useId,
  cashRequest,
  deadline,
  boundKey,
}: StartItem): Record<string, unknown> {
  return {
    paymentId: payment.paymentId,
    userUuid: payment.userUuid,
    orderId: payment.orderId,
    accountNo: payment.accountNo,
    cashAmount: payment.cashAmount.toString(),
    pointAmount: payment.pointAmount.toString(),
    merchant: payment.merchant ?? undefined,
    status: payment.status,
    attempts: payment.attempts,
    nextAttemptAt: deadline === null ? undefined : datetimeText(deadline),
    createdAt: datetimeText(payment.createdAt),
    settledAt: payment.settledAt === null ? undefined : datetimeText(payment.settledAt),
    deduct: deduct.toString(),
    useId,
    outboxId: cashRequest?.id,
    outboxTopic: cashRequest?.topic,
    outboxKey: cashRequest?.key,
    outboxPayload: cashRequest?.payload,
    idemKey: boundKey?.idem_key,
    requestHash: boundKey?.request_hash,
    keyStatus: boundKey?.status_code,
    keyBody: boundKey?.response_body,
  };
}

/** A CALL's rows as the mysql2 driver hands them to Kysely: [the result set's rows, the call's status]. */
function outcomesOf(rows: readonly unknown[]): string[] {
  const resultSet = Array.isArray(rows[0]) ? (rows[0] as Array<{ outcomes?: unknown }>) : [];
  const text = resultSet[0]?.outcomes;
  assert.ok(typeof text === 'string', 'start_payments answers its outcomes');
  return text === '' ? [] : text.split(',');
}

export function createPaymentRepository(
  db: Kysely<ServiceDb>,
  options: PaymentRepositoryOptions,
): PaymentStore & SettlementStore & TimeoutStore {
  const startBatching = options.startBatching ?? defaultStartBatching;
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

  const starts = createGroupCommit<StartItem, BatchOutcome>({
    name: 'payment-starts',
    batchSizeMax: startBatching.batchSizeMax,
    queueLengthMax: startBatching.queueLengthMax,
    concurrency: startBatching.lanes,
    // One user's payments go through one lane: two batches running at once never wait for one wallet.
    keyOf: (item) => item.payment.userUuid,
    run: (items) => startBatch(db, items),
  });

  async function start(
    input: NewPayment,
    decision: SagaDecision,
    key?: PaymentKey,
  ): Promise<StartPaymentResult> {
    const item = startItemOf(input, decision, key);
    let outcome: BatchOutcome;
    try {
      outcome = await starts.submit(item);
    } catch (error) {
      if (error instanceof GroupCommitFullError) {
        throw new AppError(
          'SERVICE_UNAVAILABLE',
          503,
          'Too many payments are waiting to be written; retry shortly',
        );
      }
      throw error;
    }
    // The batch failed as a whole: this payment is tried in a call of its own, whose error is its own.
    if (outcome === 'ALONE') outcome = (await startBatch(db, [item]))[0]!;
    switch (outcome) {
      case 'STARTED':
        if (item.cashRequest !== undefined) options.notifier?.notify();
        return { kind: 'started', payment: item.payment };
      case 'INSUFFICIENT':
        return { kind: 'insufficientPoints' };
      case 'KEY_TAKEN':
        return { kind: 'keyTaken' };
      case 'EXISTS':
      case 'DUPLICATE':
        return whatRefused(item);
      case 'ALONE':
        throw new Error('a payment alone answered ALONE');
    }
  }

  function startItemOf(input: NewPayment, decision: SagaDecision, key: PaymentKey | undefined): StartItem {
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
    return {
      payment,
      deduct: decision.effects.find((effect) => effect.type === 'DEDUCT_POINTS')?.amount ?? 0n,
      useId: uuidv7(),
      cashRequest: requested === undefined ? undefined : outboxRowOf(requestCash(payment, requested.attempt)),
      deadline:
        requested === undefined ? null : cashRequestDeadline(startedAt, requested.attempt, retryPolicy),
      boundKey: key === undefined ? undefined : keyRow(key.binding, payment.paymentId, key.answer(payment)),
    };
  }

  /**
   * A payment whose id was taken, or that a unique key refused (a row that
   * refuses an insert has committed, so it is there to be found): its own
   * payment made before (a retry whose answer was lost), its key bound by
   * another request, or its order id used already.
   */
  async function whatRefused(item: StartItem): Promise<StartPaymentResult> {
    const { payment } = item;
    const existing = await findPayment(payment.paymentId);
    if (existing !== undefined) {
      assert.equal(existing.userUuid, payment.userUuid, 'a payment id taken by another user');
      return { kind: 'started', payment: existing };
    }
    if (item.boundKey !== undefined) {
      const bound = await db
        .selectFrom('idempotency_keys')
        .select('operation_id')
        .where('user_uuid', '=', payment.userUuid)
        .where('idem_key', '=', item.boundKey.idem_key)
        .executeTakeFirst();
      if (bound !== undefined) return { kind: 'keyTaken' };
    }
    const sameOrder = await db
      .selectFrom('payments')
      .select('payment_id')
      .where('user_uuid', '=', payment.userUuid)
      .where('order_id', '=', payment.orderId)
      .executeTakeFirst();
    if (sameOrder !== undefined) return { kind: 'duplicateOrder' };
    // A twin USE row or outbox id (ids are UUIDv7s made here: not expected), or a key
    // purged in between: nothing of the payment was written, and the caller gets a 500.
    throw new Error(`start_payments refused payment ${payment.paymentId} on a unique key no row holds`);
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

  // No inbox row: the saga's state makes a repeat harmless. The core settles a
  // payment once and repeats that outcome, and a repeat (a redelivered batch,
  // the same event twice) meets a terminal payment, which ignores every cash
  // event — decided under the payment's row lock, so two deliveries racing
  // take turns.
  async function settle(outcomes: readonly CashOutcome[]): Promise<SettlementRecord[]> {
    return retryOnLockConflict(() =>
      inTransaction(
        db,
        async (trx) => {
          const payments = await lockPayments(
            trx,
            outcomes.map((outcome) => outcome.paymentId),
          );
          const records: SettlementRecord[] = [];
          const transitions: Array<{ payment: Payment; decision: SagaDecision }> = [];
          for (const outcome of outcomes) {
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
