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
  consumer: string;
  eventId: string;
  request: PaymentRequest;
  /** Builds the payment.settled message for the outcome (new or repeated). */
  announce: (outcome: PaymentOutcome) => OutboxMessage;
}

export type SettlePaymentResult = 'alreadyHandled' | 'repeated' | 'settled';

/**
 * Settles one payment's cash step in one transaction. The payments row keyed
 * by payment_id holds the outcome: a request re-sent under a new event id is
 * answered from it and never debits again.
 */
export function settlePayment(
  db: Kysely<ServiceDb>,
  input: SettlePaymentInput,
): Promise<SettlePaymentResult> {
  return inTransaction(db, async (trx) => {
    const fresh = await recordInbox(trx, input.consumer, [input.eventId]);
    if (fresh.length === 0) return 'alreadyHandled';
    const stored = await findOutcome(trx, input.request.paymentId);
    if (stored !== undefined) {
      await enqueueOutbox(trx, [input.announce(stored)]);
      return 'repeated';
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
    await enqueueOutbox(trx, [input.announce(outcome)]);
    return 'settled';
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
