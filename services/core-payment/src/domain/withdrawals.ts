import { AppError } from '@nuri/platform/errors';
import { uuidv7 } from '@nuri/platform/ids';
import { accountNotFound } from './accounts.ts';

export interface WithdrawalRequest {
  accountNo: string;
  userUuid: string;
  amount: bigint;
  idempotencyKey: string;
}

export interface Withdrawal {
  withdrawalId: string;
  accountNo: string;
  amount: bigint;
  balanceAfter: bigint;
}

/** What the first request with this (user, key) decided; replays answer from it. */
export interface StoredWithdrawal {
  withdrawalId: string;
  accountNo: string;
  amount: bigint;
  status: 'SUCCEEDED' | 'REJECTED';
  failureCode: string | null;
  balanceAfter: bigint | null;
}

export type WithdrawResult =
  | { kind: 'succeeded'; balanceAfter: bigint }
  | { kind: 'insufficientBalance' }
  | { kind: 'accountNotFound' }
  | { kind: 'accountClosed' }
  /** The key was used before: here is what that request decided. */
  | { kind: 'replay'; stored: StoredWithdrawal }
  /** Too many withdrawals are waiting already: nothing was done, the caller may retry with the same key. */
  | { kind: 'busy' };

/** A request with the ids its ledger rows get if it is applied. */
export type WithdrawalItem = WithdrawalRequest & {
  withdrawalId: string;
  transactionId: string;
  entryIds: [string, string];
};

export interface WithdrawalStore {
  /**
   * Debits the account once per (userUuid, idempotencyKey) with a conditional
   * update, writes the ledger transaction and its legs, and records the
   * outcome — atomically. A lack of funds is recorded (and replayed); an
   * unknown or foreign account is not.
   */
  withdraw(input: WithdrawalItem): Promise<WithdrawResult>;
}

/**
 * `onReplay` is told when the answer comes from an earlier request with the
 * same key (success or refusal alike), so the caller can say so: the channel
 * turns it into `Idempotent-Replayed` for a client's repeat.
 */
export async function withdraw(
  store: WithdrawalStore,
  request: WithdrawalRequest,
  onReplay?: () => void,
): Promise<Withdrawal> {
  const withdrawalId = uuidv7();
  const result = await store.withdraw({
    ...request,
    withdrawalId,
    transactionId: uuidv7(),
    entryIds: [uuidv7(), uuidv7()],
  });
  switch (result.kind) {
    case 'succeeded':
      return {
        withdrawalId,
        accountNo: request.accountNo,
        amount: request.amount,
        balanceAfter: result.balanceAfter,
      };
    case 'insufficientBalance':
      throw insufficientBalance();
    case 'accountNotFound':
      throw accountNotFound();
    case 'accountClosed':
      throw new AppError('ACCOUNT_CLOSED', 409, 'The account is closed');
    case 'replay':
      return replay(request, result.stored, onReplay);
    case 'busy':
      throw new AppError('SERVICE_UNAVAILABLE', 503, 'Too many withdrawals are waiting; retry shortly');
  }
}

function replay(request: WithdrawalRequest, stored: StoredWithdrawal, onReplay?: () => void): Withdrawal {
  if (stored.accountNo !== request.accountNo || stored.amount !== request.amount) {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      422,
      'This idempotency key was used with a different request',
    );
  }
  onReplay?.();
  if (stored.status === 'REJECTED') throw insufficientBalance();
  if (stored.balanceAfter === null)
    throw new Error(`withdrawal ${stored.withdrawalId} succeeded without a balance`);
  return {
    withdrawalId: stored.withdrawalId,
    accountNo: stored.accountNo,
    amount: stored.amount,
    balanceAfter: stored.balanceAfter,
  };
}

function insufficientBalance(): AppError {
  return new AppError(
    'INSUFFICIENT_BALANCE',
    409,
    'The balance does not cover the amount; nothing was debited',
  );
}
