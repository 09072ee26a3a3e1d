import { AppError } from '@nuri/platform/errors';
import { type EffectKey, keyTaken } from '@nuri/platform/idempotency';
import { AMOUNT_MAX } from '@nuri/platform/money';
import { decide, type PaymentStatus, type SagaDecision } from './payment-saga.ts';

/** docs/api.md: cashAmount ≤ ₩100,000,000; points follow the same one-operation limit. */
export const cashAmountMax = AMOUNT_MAX;
export const pointAmountMax = AMOUNT_MAX;
export const merchantLengthMax = 100;

export interface Payment {
  paymentId: string;
  userUuid: string;
  orderId: string;
  accountNo: string;
  cashAmount: bigint;
  pointAmount: bigint;
  merchant: string | null;
  status: PaymentStatus;
  failureCode: string | null;
  attempts: number;
  createdAt: Date;
  settledAt: Date | null;
}

export interface NewPayment {
  paymentId: string;
  userUuid: string;
  orderId: string;
  accountNo: string;
  cashAmount: bigint;
  pointAmount: bigint;
  merchant: string | null;
}

export type StartPaymentResult =
  | { kind: 'started'; payment: Payment }
  | { kind: 'insufficientPoints' }
  | { kind: 'duplicateOrder' }
  /** The Idempotency-Key was bound already (by another request with it): nothing was written. */
  | { kind: 'keyTaken' };

/** A request's Idempotency-Key, bound with the payment it starts to the answer that payment gets. */
export type PaymentKey = EffectKey<Payment>;

export interface PaymentStore {
  /**
   * Carries out the acceptance decision in one transaction: the conditional
   * point deduction and its USE row, the payment row, and the outbox row of
   * the first cash request, and the key's row when a key is given. Nothing
   * is written unless all of it is.
   */
  start(payment: NewPayment, decision: SagaDecision, key?: PaymentKey): Promise<StartPaymentResult>;
  find(paymentId: string): Promise<Payment | undefined>;
}

export type AccountLinkAnswer = 'linked' | 'notLinked';

export interface AccountLinks {
  /** Whether `accountNo` belongs to `userUuid`; throws AppError 503 when the answer cannot be had. */
  check(accountNo: string, userUuid: string): Promise<AccountLinkAnswer>;
}

export interface StartPaymentInput {
  userUuid: string;
  paymentId: string;
  accountNo: string;
  cashAmount: bigint;
  pointAmount: bigint;
  merchant: string | undefined;
  /** The client's order id, or undefined to use the payment id. */
  orderId: string | undefined;
}

/**
 * POST /payments: the table of contents of accepting a composite payment.
 * Ownership is asked before anything is written, so a foreign account costs
 * the user nothing; then the saga's acceptance is carried out atomically,
 * the request's Idempotency-Key (if any) bound in the same transaction.
 * Answers `keyTaken` when that key was bound already: nothing was written.
 */
export async function startPayment(
  deps: { payments: PaymentStore; accountLinks: AccountLinks },
  input: StartPaymentInput,
  key?: PaymentKey,
): Promise<Payment | typeof keyTaken> {
  if (input.cashAmount === 0n && input.pointAmount === 0n) {
    throw new AppError('VALIDATION_FAILED', 400, 'cashAmount and pointAmount cannot both be 0');
  }
  if ((await deps.accountLinks.check(input.accountNo, input.userUuid)) === 'notLinked') {
    throw accountNotFound();
  }
  const payment: NewPayment = {
    paymentId: input.paymentId,
    userUuid: input.userUuid,
    orderId: input.orderId ?? input.paymentId,
    accountNo: input.accountNo,
    cashAmount: input.cashAmount,
    pointAmount: input.pointAmount,
    merchant: input.merchant ?? null,
  };
  const decision = decide(
    { status: 'NEW', cashAmount: payment.cashAmount, pointAmount: payment.pointAmount, attempts: 0 },
    { type: 'ACCEPTED' },
  );
  const result = await deps.payments.start(payment, decision, key);
  switch (result.kind) {
    case 'started':
      return result.payment;
    case 'keyTaken':
      return keyTaken;
    case 'insufficientPoints':
      throw new AppError('INSUFFICIENT_POINTS', 409, 'The point balance does not cover pointAmount');
    case 'duplicateOrder':
      throw new AppError('DUPLICATE_ORDER', 409, 'A payment with this orderId already exists');
  }
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The owner's payment; anyone else's answers exactly like a missing one (docs/api.md "Ownership"). */
export async function getPayment(
  payments: PaymentStore,
  userUuid: string,
  paymentId: string,
): Promise<Payment> {
  // A malformed id is answered like a missing one (docs/api.md, Identifiers), without asking the
  // database: MariaDB refuses to compare a non-ASCII string with the id column (a 500, found by fuzzing).
  const payment = uuidPattern.test(paymentId) ? await payments.find(paymentId) : undefined;
  if (payment === undefined || payment.userUuid !== userUuid) {
    throw new AppError('PAYMENT_NOT_FOUND', 404, 'No such payment');
  }
  return payment;
}

function accountNotFound(): AppError {
  return new AppError('ACCOUNT_NOT_FOUND', 404, 'No such account');
}

export interface RetryPolicy {
  /** Wait after the first request before re-sending it. */
  timeoutMs: number;
  attemptsMax: number;
  backoffFactor: number;
  backoffMaxMs: number;
}

/** When the cash request `attempt`, sent at `sentAt`, counts as unanswered. */
export function cashRequestDeadline(sentAt: Date, attempt: number, policy: RetryPolicy): Date {
  const waitMs = Math.min(policy.backoffMaxMs, policy.timeoutMs * policy.backoffFactor ** (attempt - 1));
  return new Date(sentAt.getTime() + waitMs);
}
