import { isValidAccountNo } from '@nuri/contracts/account-number';
import { createBoundedMap } from '@nuri/platform/bounded-map';
import { AppError } from '@nuri/platform/errors';
import { hasControlCharacters } from '@nuri/platform/text';
import {
  type AccountLinkStore,
  type CoreLedger,
  type ReplayListener,
  requireOwnAccount,
} from './accounts.ts';

/** docs/api.md: a memo of at most 20 characters, shown on both statements. */
export const memoLengthMax = 20;
/** docs/api.md: recipient look-ups per user per minute, against enumeration of account holders. */
export const defaultRecipientLookupsPerMinute = 30;

export interface Recipient {
  accountNo: string;
  holderMaskedName: string;
  bank: 'NURI';
}

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
  amount: number;
  balanceAfter: number;
  memo: string | null;
  createdAt: string;
}

/** Masked names of account holders by userUuid (channel logins, else the registry's masked view). */
export interface HolderNames {
  maskedNamesOf(userUuids: readonly string[], requestId: string): Promise<Map<string, string>>;
}

export type LookupDecision = { limited: false } | { limited: true; retryAfterSeconds: number };

/** Counts a user's recipient look-ups in the current minute, across every instance. */
export interface LookupCounter {
  hit(userUuid: string, perMinuteMax: number): Promise<LookupDecision>;
}

export interface TransferDeps {
  ledger: CoreLedger;
  links: AccountLinkStore;
  names: HolderNames;
  lookups: LookupCounter;
  lookupsPerMinuteMax: number;
  /** Meters transfers the core answers RECIPIENT_NOT_FOUND (createRecipientProbeGuard). */
  probes: RecipientProbeGuard;
  newIdempotencyKey: () => string;
}

export interface RecipientProbeGuard {
  /** Throws 429 RATE_LIMITED while this user may not send (their misses passed the look-up limit). */
  refuseIfBlocked(userUuid: string): void;
  /** Counts a transfer the core answered RECIPIENT_NOT_FOUND against the user's look-ups. */
  countMiss(userUuid: string): Promise<void>;
}

/**
 * A transfer the core answers `404 RECIPIENT_NOT_FOUND` tells its sender, as
 * a look-up would, that no open account has that number (and `409
 * INSUFFICIENT_BALANCE` from an empty account that one does): without a
 * meter, transfers of 1 won from an empty account would enumerate accounts
 * past the look-up limit. So each such miss counts against the same per-user
 * limit as look-ups, and once a miss finds the user over it, their transfers
 * are refused with 429 until the window ends — every transfer, found or not,
 * since refusing only misses would tell the two apart again. Kept per
 * instance (a user spread over N instances gets up to N − 1 misses more), at
 * most `usersMax` users (past it, those blocked longest ago are forgotten,
 * a generation at a time: platform bounded-map.ts).
 */
export function createRecipientProbeGuard(options: {
  lookups: LookupCounter;
  perMinuteMax: number;
  usersMax?: number;
  now?: () => number;
}): RecipientProbeGuard {
  const { lookups, perMinuteMax } = options;
  const usersMax = options.usersMax ?? 10_000;
  const now = options.now ?? Date.now;
  const blockedUntil = createBoundedMap<string, number>(usersMax);
  return {
    refuseIfBlocked(userUuid) {
      const until = blockedUntil.get(userUuid);
      if (until === undefined) return;
      const at = now();
      if (until <= at) {
        blockedUntil.delete(userUuid);
        return;
      }
      throw new AppError('RATE_LIMITED', 429, 'Too many transfers to accounts that do not exist; slow down', {
        retryAfterSeconds: Math.max(1, Math.ceil((until - at) / 1_000)),
      });
    },
    async countMiss(userUuid) {
      const decision = await lookups.hit(userUuid, perMinuteMax);
      if (!decision.limited) return;
      const at = now();
      blockedUntil.set(userUuid, at + decision.retryAfterSeconds * 1_000);
    },
  };
}

export function recipientNotFound(): AppError {
  return new AppError('RECIPIENT_NOT_FOUND', 404, 'No open account with this number');
}

/**
 * A memo as sent to the core: trimmed, at most 20 characters, no control
 * characters; absent or blank is none.
 */
export function normalizeMemo(memo: string | null | undefined): string | null {
  if (memo === undefined || memo === null) return null;
  const trimmed = memo.trim();
  if (trimmed === '') return null;
  if (hasControlCharacters(trimmed)) {
    throw new AppError('VALIDATION_FAILED', 400, 'body/memo must not contain control characters');
  }
  if (Array.from(trimmed).length > memoLengthMax) {
    throw new AppError('VALIDATION_FAILED', 400, `body/memo must be at most ${memoLengthMax} characters`);
  }
  return trimmed;
}

/**
 * 받는 분 확인: the masked name of an open account's holder, for the sender to
 * confirm before sending. Every look-up counts against the user's per-minute
 * limit, found or not, so holders cannot be enumerated; a number that cannot
 * be one (format, Luhn) is refused without asking the core.
 */
export async function lookUpRecipient(
  deps: TransferDeps,
  userUuid: string,
  accountNo: string,
  requestId: string,
): Promise<Recipient> {
  const decision = await deps.lookups.hit(userUuid, deps.lookupsPerMinuteMax);
  if (decision.limited) {
    throw new AppError('RATE_LIMITED', 429, 'Too many recipient look-ups; slow down', {
      retryAfterSeconds: decision.retryAfterSeconds,
    });
  }
  if (!isValidAccountNo(accountNo)) throw recipientNotFound();
  const holder = await deps.ledger.findHolder(accountNo, requestId);
  if (holder === undefined || holder.status !== 'ACTIVE') throw recipientNotFound();
  const name = (await deps.names.maskedNamesOf([holder.userUuid], requestId)).get(holder.userUuid);
  if (name === undefined) throw recipientNotFound();
  return { accountNo, holderMaskedName: name, bank: 'NURI' };
}

/**
 * Synchronous transfer at the core, which moves both sides in one transaction.
 * The sender's account must be the caller's (checked here on the local link,
 * and again by the core); the key (the client's, or one made for this request)
 * travels with every retry, so the core moves the money at most once.
 */
export async function sendTransfer(
  deps: TransferDeps,
  request: Omit<TransferRequest, 'idempotencyKey' | 'memo'> & {
    memo: string | null | undefined;
    idempotencyKey: string | undefined;
  },
  requestId: string,
  onReplay?: ReplayListener,
): Promise<Transfer> {
  const memo = normalizeMemo(request.memo);
  if (request.fromAccountNo === request.toAccountNo) {
    throw new AppError('VALIDATION_FAILED', 400, 'body/toAccountNo must differ from body/fromAccountNo');
  }
  await requireOwnAccount(deps.links, request.fromAccountNo, request.userUuid);
  // A number that cannot be one (format, Luhn) tells nothing about anyone's account: not metered.
  if (!isValidAccountNo(request.toAccountNo)) throw recipientNotFound();
  deps.probes.refuseIfBlocked(request.userUuid);
  try {
    return await deps.ledger.transfer(
      {
        userUuid: request.userUuid,
        fromAccountNo: request.fromAccountNo,
        toAccountNo: request.toAccountNo,
        amount: request.amount,
        memo,
        idempotencyKey: request.idempotencyKey ?? deps.newIdempotencyKey(),
      },
      requestId,
      onReplay,
    );
  } catch (error) {
    // A miss that cannot be counted (our database is down) fails as that outage does, not as a free 404.
    if (error instanceof AppError && error.code === 'RECIPIENT_NOT_FOUND')
      await deps.probes.countMiss(request.userUuid);
    throw error;
  }
}

export async function getTransfer(
  deps: Pick<TransferDeps, 'ledger'>,
  userUuid: string,
  transferId: string,
  requestId: string,
): Promise<Transfer> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(transferId)) {
    throw transferNotFound();
  }
  const found = await deps.ledger.getTransfer(transferId, userUuid, requestId);
  if (found === undefined) throw transferNotFound();
  return found;
}

function transferNotFound(): AppError {
  return new AppError('TRANSFER_NOT_FOUND', 404, 'No such transfer');
}

/** Holder names from the channel's own logins; anyone without one (opened elsewhere) from the registry. */
export function createHolderNames(
  logins: { maskedNamesOf(userUuids: readonly string[]): Promise<Map<string, string>> },
  registry: { maskedNameOf(userUuid: string, requestId: string): Promise<string | undefined> },
): HolderNames {
  return {
    async maskedNamesOf(userUuids, requestId) {
      const names = await logins.maskedNamesOf(userUuids);
      for (const userUuid of new Set(userUuids)) {
        if (names.has(userUuid)) continue;
        const name = await registry.maskedNameOf(userUuid, requestId);
        if (name !== undefined) names.set(userUuid, name);
      }
      return names;
    },
  };
}
