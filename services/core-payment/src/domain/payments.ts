import assert from 'node:assert/strict';
import type { AccountStatus, LockedAccount } from './accounts.ts';

/** The cash step of a composite payment: debit the account once per paymentId. */
export interface PaymentRequest {
  paymentId: string;
  userUuid: string;
  accountNo: string;
  amount: bigint;
  orderId: string;
}

export type PaymentFailureCode = 'INSUFFICIENT_BALANCE' | 'ACCOUNT_NOT_FOUND' | 'ACCOUNT_CLOSED';

export type PaymentOutcome =
  | { status: 'SUCCEEDED'; balanceAfter: bigint }
  | { status: 'FAILED'; failureCode: PaymentFailureCode };

/**
 * Why a conditional debit matched no row, from the account as it is now.
 * Another user's account answers like a missing one.
 */
export function explainRefusedDebit(
  account: { userUuid: string; status: AccountStatus } | undefined,
  userUuid: string,
): PaymentFailureCode {
  if (account === undefined || account.userUuid !== userUuid) return 'ACCOUNT_NOT_FOUND';
  if (account.status !== 'ACTIVE') return 'ACCOUNT_CLOSED';
  return 'INSUFFICIENT_BALANCE';
}

export type { LockedAccount };

export interface PlannedPayment {
  request: PaymentRequest;
  outcome: PaymentOutcome;
  /** False when the payment was settled before (earlier batch or earlier in this one): answer again, change nothing. */
  fresh: boolean;
}

export interface PaymentPlan {
  payments: PlannedPayment[];
  /** New balances of the accounts that were debited. */
  balances: Map<string, bigint>;
}

/**
 * Decides a batch of cash steps against the locked accounts, in arrival
 * order, so two payments on one account meet its balance one after the
 * other. Each payment id is debited at most once: one settled before is
 * answered with its stored outcome, a repeat inside the batch with the first's.
 */
export function planPayments(
  accounts: ReadonlyMap<string, LockedAccount>,
  requests: readonly PaymentRequest[],
  settledBefore: ReadonlyMap<string, PaymentOutcome>,
): PaymentPlan {
  const balances = new Map<string, bigint>();
  const decided = new Map<string, PaymentOutcome>(settledBefore);
  const payments: PlannedPayment[] = [];
  for (const request of requests) {
    const previous = decided.get(request.paymentId);
    if (previous !== undefined) {
      payments.push({ request, outcome: previous, fresh: false });
      continue;
    }
    const account = accounts.get(request.accountNo);
    const balance = balances.get(request.accountNo) ?? account?.balance ?? 0n;
    const outcome = decideDebit(account, request, balance);
    if (outcome.status === 'SUCCEEDED') balances.set(request.accountNo, outcome.balanceAfter);
    decided.set(request.paymentId, outcome);
    payments.push({ request, outcome, fresh: true });
  }
  return { payments, balances };
}

/** One cash step: the conditional debit's rule (owner, ACTIVE, balance ≥ amount) and, when refused, why. */
export function decideDebit(
  account: Omit<LockedAccount, 'balance'> | undefined,
  request: PaymentRequest,
  balance: bigint,
): PaymentOutcome {
  assert.ok(request.amount > 0n, `payment ${request.paymentId} has a non-positive amount`);
  if (account === undefined || account.userUuid !== request.userUuid || account.status !== 'ACTIVE') {
    return { status: 'FAILED', failureCode: explainRefusedDebit(account, request.userUuid) };
  }
  if (balance < request.amount) return { status: 'FAILED', failureCode: 'INSUFFICIENT_BALANCE' };
  return { status: 'SUCCEEDED', balanceAfter: balance - request.amount };
}
