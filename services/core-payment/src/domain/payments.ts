import type { AccountStatus } from './accounts.ts';

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
