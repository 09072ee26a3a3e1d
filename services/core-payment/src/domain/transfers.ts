import { AppError } from '@nuri/platform/errors';
import { uuidv7 } from '@nuri/platform/ids';
import { hasControlCharacters } from '@nuri/platform/text';
import { accountNotFound } from './accounts.ts';

/** docs/api.md: a user's transfers out per Asia/Seoul calendar day, ₩5,000,000 by default. */
export const defaultTransferDailyLimit = 5_000_000n;
/** docs/api.md: the largest balance an account may hold (the accounts CHECK says the same). */
export const balanceMax = 1_000_000_000_000_000n;
/** docs/api.md: a memo of at most 20 characters, shown on both statements. */
export const memoLengthMax = 20;

export interface TransferRequest {
  userUuid: string;
  fromAccountNo: string;
  toAccountNo: string;
  amount: bigint;
  memo: string | null;
  idempotencyKey: string;
}

export interface Transfer {
  transferId: string;
  fromAccountNo: string;
  toAccountNo: string;
  amount: bigint;
  /** The sender's balance once the transfer was applied. */
  balanceAfter: bigint;
  memo: string | null;
  createdAt: Date;
}

export type TransferRefusal = 'INSUFFICIENT_BALANCE' | 'DAILY_LIMIT_EXCEEDED' | 'BALANCE_LIMIT_EXCEEDED';

/** What the first request with this (user, key) decided; a replay answers from it. */
export interface StoredTransfer {
  transferId: string;
  fromAccountNo: string;
  toAccountNo: string;
  amount: bigint;
  memo: string | null;
  status: 'SUCCEEDED' | 'REJECTED';
  failureCode: string | null;
  balanceAfter: bigint | null;
  createdAt: Date;
}

export type TransferResult =
  | { kind: 'succeeded'; transfer: Transfer }
  /** A refusal the user can act on: recorded, so a retry gets it again. */
  | { kind: 'refused'; code: TransferRefusal }
  | { kind: 'accountNotFound' }
  | { kind: 'recipientNotFound' }
  | { kind: 'replay'; stored: StoredTransfer }
  /** Too many transfers are waiting already: nothing was done, the caller may retry with the same key. */
  | { kind: 'busy' };

/** A request with the ids its rows get if it is applied. */
export type TransferItem = TransferRequest & {
  transferId: string;
  transactionId: string;
  entryIds: [string, string];
};

export interface TransferStore {
  /**
   * Moves the amount once per (userUuid, idempotencyKey): both balances, the
   * ledger transaction with its two legs (the sender's debit, the recipient's
   * credit), the day's total and the transfer's record, in one transaction.
   * A refusal for lack of funds, the daily limit or the recipient's cap is
   * recorded (and replayed); a missing or foreign account is not.
   */
  transfer(item: TransferItem): Promise<TransferResult>;
  /** A transfer that moved money, if `userUuid` sent it. */
  findTransfer(transferId: string, userUuid: string): Promise<Transfer | undefined>;
}

/**
 * A memo as stored: trimmed, at most 20 characters, no control characters;
 * absent or blank is none.
 */
export function normalizeMemo(memo: string | null | undefined): string | null {
  if (memo === undefined || memo === null) return null;
  const trimmed = memo.trim();
  if (trimmed === '') return null;
  if (hasControlCharacters(trimmed)) {
    throw new AppError('VALIDATION_FAILED', 400, 'memo must not contain control characters');
  }
  if (Array.from(trimmed).length > memoLengthMax) {
    throw new AppError('VALIDATION_FAILED', 400, `memo must be at most ${memoLengthMax} characters`);
  }
  return trimmed;
}

/**
 * `onReplay` is told when the answer comes from an earlier request with the
 * same key (a success or a recorded refusal), so the channel can say so.
 */
export async function transfer(
  store: TransferStore,
  request: TransferRequest,
  onReplay?: () => void,
): Promise<Transfer> {
  if (request.fromAccountNo === request.toAccountNo) {
    throw new AppError('VALIDATION_FAILED', 400, 'fromAccountNo and toAccountNo must differ');
  }
  const memo = normalizeMemo(request.memo);
  const result = await store.transfer({
    ...request,
    memo,
    transferId: uuidv7(),
    transactionId: uuidv7(),
    entryIds: [uuidv7(), uuidv7()],
  });
  switch (result.kind) {
    case 'succeeded':
      return result.transfer;
    case 'refused':
      throw refusal(result.code);
    case 'accountNotFound':
      throw accountNotFound();
    case 'recipientNotFound':
      throw recipientNotFound();
    case 'replay':
      return replay({ ...request, memo }, result.stored, onReplay);
    case 'busy':
      throw new AppError('SERVICE_UNAVAILABLE', 503, 'Too many transfers are waiting; retry shortly');
  }
}

export async function getTransfer(
  store: TransferStore,
  transferId: string,
  userUuid: string,
): Promise<Transfer> {
  const found = await store.findTransfer(transferId, userUuid);
  if (found === undefined) throw new AppError('TRANSFER_NOT_FOUND', 404, 'No such transfer');
  return found;
}

function replay(request: TransferRequest, stored: StoredTransfer, onReplay?: () => void): Transfer {
  if (
    stored.fromAccountNo !== request.fromAccountNo ||
    stored.toAccountNo !== request.toAccountNo ||
    stored.amount !== request.amount ||
    stored.memo !== request.memo
  ) {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      422,
      'This idempotency key was used with a different request',
    );
  }
  onReplay?.();
  if (stored.status === 'REJECTED') throw refusal(stored.failureCode as TransferRefusal);
  if (stored.balanceAfter === null)
    throw new Error(`transfer ${stored.transferId} succeeded without a balance`);
  return {
    transferId: stored.transferId,
    fromAccountNo: stored.fromAccountNo,
    toAccountNo: stored.toAccountNo,
    amount: stored.amount,
    balanceAfter: stored.balanceAfter,
    memo: stored.memo,
    createdAt: stored.createdAt,
  };
}

export function recipientNotFound(): AppError {
  return new AppError('RECIPIENT_NOT_FOUND', 404, 'No open account with this number');
}

function refusal(code: TransferRefusal): AppError {
  switch (code) {
    case 'INSUFFICIENT_BALANCE':
      return new AppError(
        'INSUFFICIENT_BALANCE',
        409,
        'The balance does not cover the amount; nothing moved',
      );
    case 'DAILY_LIMIT_EXCEEDED':
      return new AppError(
        'DAILY_LIMIT_EXCEEDED',
        409,
        "This transfer would pass today's transfer limit (Asia/Seoul day); nothing moved",
      );
    case 'BALANCE_LIMIT_EXCEEDED':
      return new AppError(
        'BALANCE_LIMIT_EXCEEDED',
        409,
        "The recipient's balance would pass its limit; nothing moved",
      );
  }
}
