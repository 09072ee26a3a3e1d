import { inTransaction } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { recordInbox } from '@nuri/platform/kafka/inbox';
import { enqueueOutbox, type OutboxMessage } from '@nuri/platform/kafka/outbox';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql, type Transaction } from 'kysely';
import {
  explainRefusedDebit,
  type PaymentFailureCode,
  type PaymentOutcome,
  type PaymentRequest,
} from '../domain/payments.ts';
import type { ServiceDb } from './database.ts';
import { appendMovements } from './ledger-writer.ts';

export interface SettlePaymentInput {
  eventId: string;
  request: PaymentRequest;
  /** Builds the payment.settled message for the outcome (new or repeated). */
  announce: (outcome: PaymentOutcome) => OutboxMessage;
}

export type SettlePaymentResult = 'alreadyHandled' | 'repeated' | 'settled';

/**
 * Settles a batch of payments' cash steps in ONE transaction (one commit, not
 * one per payment: the commit is what a 2-core box pays for), in the order
 * they arrived, so two payments on one account meet its balance in order.
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
    const results: SettlePaymentResult[] = [];
    const announcements: OutboxMessage[] = [];
    for (const input of inputs) {
      if (!fresh.has(input.eventId)) {
        results.push('alreadyHandled');
        continue;
      }
      // A batch may carry the same event twice; only its first copy counts.
      fresh.delete(input.eventId);
      const stored = await findOutcome(trx, input.request.paymentId);
      if (stored !== undefined) {
        announcements.push(input.announce(stored));
        results.push('repeated');
        continue;
      }
      const outcome = await debitForPayment(trx, input.request);
      await trx
        .insertInto('payments')
        .values({
          payment_id: input.request.paymentId,
          user_uuid: input.request.userUuid,
          account_no: input.request.accountNo,
          amount: input.request.amount,
          order_id: input.request.orderId,
          status: outcome.status,
          failure_code: outcome.status === 'FAILED' ? outcome.failureCode : null,
          balance_after: outcome.status === 'SUCCEEDED' ? outcome.balanceAfter : null,
        })
        .execute();
      announcements.push(input.announce(outcome));
      results.push('settled');
    }
    if (announcements.length > 0) await enqueueOutbox(trx, announcements);
    return results;
  });
}

async function findOutcome(
  trx: Transaction<ServiceDb>,
  paymentId: string,
): Promise<PaymentOutcome | undefined> {
  const row = await trx
    .selectFrom('payments')
    .select(['status', 'failure_code', 'balance_after'])
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  if (row.status === 'SUCCEEDED')
    return { status: 'SUCCEEDED', balanceAfter: parseDbAmount(row.balance_after ?? '') };
  return { status: 'FAILED', failureCode: row.failure_code as PaymentFailureCode };
}

async function debitForPayment(
  trx: Transaction<ServiceDb>,
  request: PaymentRequest,
): Promise<PaymentOutcome> {
  const amount = request.amount.toString();
  // One conditional statement; only when it matches nothing do we look at why.
  const debited = await sql<{ balance: string }>`
    update accounts set balance = balance - ${amount}::numeric
    where account_no = ${request.accountNo} and user_uuid = ${request.userUuid}::uuid
      and status = 'ACTIVE' and balance >= ${amount}::numeric
    returning balance`.execute(trx);
  const row = debited.rows[0];
  if (row === undefined) {
    const account = await trx
      .selectFrom('accounts')
      .select(['user_uuid as userUuid', 'status'])
      .where('account_no', '=', request.accountNo)
      .executeTakeFirst();
    return { status: 'FAILED', failureCode: explainRefusedDebit(account, request.userUuid) };
  }
  const balanceAfter = parseDbAmount(row.balance);
  await appendMovements(trx, [
    {
      transactionId: uuidv7(),
      type: 'PAYMENT',
      reference: request.paymentId,
      accountNo: request.accountNo,
      amount: request.amount,
      balanceAfter,
    },
  ]);
  return { status: 'SUCCEEDED', balanceAfter };
}
