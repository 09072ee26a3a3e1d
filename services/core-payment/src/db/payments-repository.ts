import { inTransaction } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { recordInbox } from '@nuri/platform/kafka/inbox';
import { enqueueOutbox, type OutboxMessage } from '@nuri/platform/kafka/outbox';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Movement } from '../domain/ledger.ts';
import {
  type PaymentFailureCode,
  type PaymentOutcome,
  type PaymentRequest,
  type PlannedPayment,
  planPayments,
} from '../domain/payments.ts';
import type { ServiceDb } from './database.ts';
import { appendMovements, lockAccounts, setBalances } from './ledger-writer.ts';

export interface SettlePaymentInput {
  eventId: string;
  request: PaymentRequest;
  /** Builds the payment.settled message for the outcome (new or repeated). */
  announce: (outcome: PaymentOutcome) => OutboxMessage;
}

export type SettlePaymentResult = 'alreadyHandled' | 'repeated' | 'settled';

/**
 * Settles a batch of payments' cash steps in ONE transaction with a fixed
 * handful of statements, whatever the batch size (on a 2-core box each
 * statement's round trip, not the work in it, is what costs): inbox, earlier
 * outcomes, account locks (in account order, so concurrent batches cannot
 * deadlock), balances, ledger rows, outcomes, outbox. planPayments decides in
 * arrival order, so two payments on one account meet its balance in order.
 * The payments row keyed by payment_id holds each outcome: a request re-sent
 * under a new event id is answered from it and never debits again. If the
 * batch fails, the consumer retries it and then each payment on its own.
 */
export function settlePayments(
  db: Kysely<ServiceDb>,
  consumer: string,
  inputs: readonly SettlePaymentInput[],
): Promise<SettlePaymentResult[]> {
  return inTransaction(db, async (trx) => {
    const fresh = new Set(
      await recordInbox(
        trx,
        consumer,
        inputs.map((input) => input.eventId),
      ),
    );
    // A batch may carry the same event twice; only its first copy counts.
    const handled = inputs.filter((input) => fresh.delete(input.eventId));
    if (handled.length === 0) return inputs.map(() => 'alreadyHandled' as const);
    const requests = handled.map((input) => input.request);
    const settledBefore = await findOutcomes(
      trx,
      requests.map((request) => request.paymentId),
    );
    const toDecide = requests.filter((request) => !settledBefore.has(request.paymentId));
    const accounts = await lockAccounts(
      trx,
      toDecide.map((request) => request.accountNo),
    );
    const plan = planPayments(accounts, requests, settledBefore);
    const applied = plan.payments.filter((payment) => payment.fresh);
    await setBalances(trx, plan.balances);
    await appendMovements(trx, applied.flatMap(toMovement));
    await insertOutcomes(trx, applied);
    // plan.payments[i] answers handled[i].
    await enqueueOutbox(
      trx,
      plan.payments.map((payment, index) => handled[index]!.announce(payment.outcome)),
    );
    const resultOf = new Map(
      handled.map((input, index) => [input, plan.payments[index]!.fresh ? 'settled' : 'repeated'] as const),
    );
    return inputs.map((input) => resultOf.get(input) ?? 'alreadyHandled');
  });
}

async function findOutcomes(
  trx: Transaction<ServiceDb>,
  paymentIds: string[],
): Promise<Map<string, PaymentOutcome>> {
  const rows = await sql<{
    payment_id: string;
    status: 'SUCCEEDED' | 'FAILED';
    failure_code: string | null;
    balance_after: string | null;
  }>`select payment_id, status, failure_code, balance_after
     from payments where payment_id = any(${[...new Set(paymentIds)]}::uuid[])`.execute(trx);
  return new Map(
    rows.rows.map((row) => [
      row.payment_id,
      row.status === 'SUCCEEDED'
        ? { status: 'SUCCEEDED', balanceAfter: parseDbAmount(row.balance_after ?? '') }
        : { status: 'FAILED', failureCode: row.failure_code as PaymentFailureCode },
    ]),
  );
}

function toMovement(payment: PlannedPayment): Movement[] {
  const { outcome, request } = payment;
  if (outcome.status !== 'SUCCEEDED') return [];
  return [
    {
      transactionId: uuidv7(),
      type: 'PAYMENT',
      reference: request.paymentId,
      accountNo: request.accountNo,
      amount: request.amount,
      balanceAfter: outcome.balanceAfter,
    },
  ];
}

async function insertOutcomes(
  trx: Transaction<ServiceDb>,
  payments: readonly PlannedPayment[],
): Promise<void> {
  if (payments.length === 0) return;
  const column = <T>(pick: (payment: PlannedPayment) => T) => payments.map(pick);
  await sql`
    insert into payments (payment_id, user_uuid, account_no, amount, order_id, status, failure_code, balance_after)
    select * from unnest(
      ${column((p) => p.request.paymentId)}::uuid[], ${column((p) => p.request.userUuid)}::uuid[],
      ${column((p) => p.request.accountNo)}::text[], ${column((p) => p.request.amount.toString())}::numeric[],
      ${column((p) => p.request.orderId)}::text[], ${column((p) => p.outcome.status)}::text[],
      ${column((p) => (p.outcome.status === 'FAILED' ? p.outcome.failureCode : null))}::text[],
      ${column((p) => (p.outcome.status === 'SUCCEEDED' ? p.outcome.balanceAfter.toString() : null))}::numeric[])`.execute(
    trx,
  );
}
