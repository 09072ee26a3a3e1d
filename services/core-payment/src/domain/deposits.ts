import assert from 'node:assert/strict';
import { BALANCE_MAX } from '@nuri/platform/money';
import type { LockedAccount } from './accounts.ts';

export interface DepositRequest {
  depositId: string;
  accountNo: string;
  userUuid: string;
  amount: bigint;
}

export type DepositFailureCode = 'ACCOUNT_NOT_FOUND' | 'ACCOUNT_CLOSED' | 'BALANCE_LIMIT_EXCEEDED';

export type DepositOutcome =
  | { depositId: string; accountNo: string; status: 'COMPLETED'; balanceAfter: bigint }
  | { depositId: string; accountNo: string; status: 'FAILED'; failureCode: DepositFailureCode };

export type { LockedAccount };

export interface PlannedDeposit {
  request: DepositRequest;
  outcome: DepositOutcome;
  /** False when the deposit was settled before (earlier batch or earlier in this one): answer again, change nothing. */
  fresh: boolean;
}

export interface DepositPlan {
  deposits: PlannedDeposit[];
  /** New balances of the accounts that changed. */
  balances: Map<string, bigint>;
}

/**
 * Decides a batch of deposits against the locked accounts, in order. Each
 * deposit id takes effect at most once: one settled before is answered with
 * its stored outcome, a repeat inside the batch with the first one's.
 */
export function planDeposits(
  accounts: ReadonlyMap<string, LockedAccount>,
  requests: readonly DepositRequest[],
  settledBefore: ReadonlyMap<string, DepositOutcome>,
): DepositPlan {
  const balances = new Map<string, bigint>();
  const decided = new Map<string, DepositOutcome>(settledBefore);
  const deposits: PlannedDeposit[] = [];
  for (const request of requests) {
    const previous = decided.get(request.depositId);
    if (previous !== undefined) {
      deposits.push({ request, outcome: previous, fresh: false });
      continue;
    }
    const account = accounts.get(request.accountNo);
    const balance = balances.get(request.accountNo) ?? account?.balance ?? 0n;
    const outcome = decideDeposit(account, request, balance);
    if (outcome.status === 'COMPLETED') balances.set(request.accountNo, outcome.balanceAfter);
    decided.set(request.depositId, outcome);
    deposits.push({ request, outcome, fresh: true });
  }
  return { deposits, balances };
}

export function decideDeposit(
  account: Omit<LockedAccount, 'balance'> | undefined,
  request: DepositRequest,
  balance: bigint,
): DepositOutcome {
  assert.ok(request.amount > 0n, `deposit ${request.depositId} has a non-positive amount`);
  assert.ok(balance >= 0n, `account ${request.accountNo} has a negative balance`);
  const base = { depositId: request.depositId, accountNo: request.accountNo };
  // Another user's account answers like a missing one: nothing leaks.
  if (account === undefined || account.userUuid !== request.userUuid) {
    return { ...base, status: 'FAILED', failureCode: 'ACCOUNT_NOT_FOUND' };
  }
  if (account.status !== 'ACTIVE') return { ...base, status: 'FAILED', failureCode: 'ACCOUNT_CLOSED' };
  const balanceAfter = balance + request.amount;
  if (balanceAfter > BALANCE_MAX) return { ...base, status: 'FAILED', failureCode: 'BALANCE_LIMIT_EXCEEDED' };
  return { ...base, status: 'COMPLETED', balanceAfter };
}
