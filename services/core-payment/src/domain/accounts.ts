import { AppError } from '@nuri/platform/errors';
import { hasControlCharacters } from '@nuri/platform/text';
import { generateAccountNo } from './account-number.ts';
import type { MovementType } from './ledger.ts';

/** docs/api.md: at most 5 open accounts per user. */
export const openAccountsPerUserMax = 5;
/** 10^11 numbers make a collision rare; a handful of retries make failing for one absurd. */
export const accountNoAttemptsMax = 8;
export const aliasLengthMax = 30;
export const transactionsPageSizeMax = 100;

export type AccountStatus = 'ACTIVE' | 'CLOSED';

/** An account as its row lock found it, for the batch planners of deposits and payments (they only read it). */
export interface LockedAccount {
  accountNo: string;
  userUuid: string;
  status: AccountStatus;
  balance: bigint;
}

export interface Account {
  accountNo: string;
  userUuid: string;
  alias: string | null;
  balance: bigint;
  currency: 'KRW';
  status: AccountStatus;
  openedAt: Date;
}

/** What a line of an account's statement is: a movement, or one side of a transfer. */
export type EntryType = MovementType | 'TRANSFER_OUT' | 'TRANSFER_IN';

/** The other side of a transfer line, for the statement (the channel turns the user into a masked name). */
export interface Counterparty {
  userUuid: string;
  accountNoLast4: string;
}

export interface TransactionItem {
  id: string;
  type: EntryType;
  amount: bigint;
  balanceAfter: bigint;
  reference: string;
  createdAt: Date;
  /** Transfer lines only. */
  transfer?: { counterparty: Counterparty; memo: string | null };
}

/**
 * Where the next statement page starts: below this statement position (an
 * entry's `seq`, its place in the account's commit order), or — for a cursor
 * issued before statements were ordered by seq — below the entry with this id.
 */
export type StatementPosition = { seq: string } | { entryId: string };

export interface TransactionPage {
  items: TransactionItem[];
  /** Opaque position after the last item; null on the last page. */
  nextCursor: string | null;
}

export type OpenAccountResult =
  | { kind: 'opened'; account: Account }
  /** The user's account opened earlier under the same open key. */
  | { kind: 'alreadyOpened'; account: Account }
  | { kind: 'limitReached' }
  | { kind: 'collision' };

export interface OpenedAccount {
  account: Account;
  /** False when the open key named an account opened before (a retry): nothing new was opened. */
  created: boolean;
}

/** What the account use cases need from storage. */
export interface AccountStore {
  /**
   * Opens the account unless the user already has `openAccountsMax` open ones,
   * or answers the account this user opened before under `openKey`. Must be
   * race-free per user (the key lookup, the count and the insert are one
   * critical section), so a retry racing its original still opens one account.
   */
  openAccount(input: {
    accountNo: string;
    userUuid: string;
    alias: string | null;
    openKey: string | null;
    openAccountsMax: number;
  }): Promise<OpenAccountResult>;
  findAccount(accountNo: string): Promise<Account | undefined>;
  listAccountsOfUser(userUuid: string): Promise<Account[]>;
  /**
   * Newest first: up to `limit` of the account's lines below `before`, in the
   * order they were committed in (so each line's balanceAfter follows from
   * the one before it), with each line's position.
   */
  listTransactions(
    accountNo: string,
    limit: number,
    before: StatementPosition | undefined,
  ): Promise<Array<TransactionItem & { seq: string }>>;
}

export function accountNotFound(): AppError {
  return new AppError('ACCOUNT_NOT_FOUND', 404, 'No such account');
}

/** Trimmed alias, or null when absent; blank or too long is the caller's mistake. */
export function normalizeAlias(alias: string | undefined): string | null {
  if (alias === undefined) return null;
  const trimmed = alias.trim();
  const length = Array.from(trimmed).length;
  if (length < 1 || length > aliasLengthMax) {
    throw new AppError('VALIDATION_FAILED', 400, `alias must be 1–${aliasLengthMax} characters once trimmed`);
  }
  if (hasControlCharacters(trimmed)) {
    throw new AppError('VALIDATION_FAILED', 400, 'alias must not contain control characters');
  }
  return trimmed;
}

/**
 * Opens an account. With an open key (the caller's, fixed across its retries)
 * opening is idempotent per user: a repeat answers the account the first one
 * opened, and the 5-account limit counts it once.
 */
export async function openAccount(
  store: AccountStore,
  input: { userUuid: string; alias?: string | undefined; openKey?: string | undefined },
  newAccountNo: () => string = generateAccountNo,
): Promise<OpenedAccount> {
  const alias = normalizeAlias(input.alias);
  for (let attempt = 0; attempt < accountNoAttemptsMax; attempt += 1) {
    const result = await store.openAccount({
      accountNo: newAccountNo(),
      userUuid: input.userUuid,
      alias,
      openKey: input.openKey ?? null,
      openAccountsMax: openAccountsPerUserMax,
    });
    if (result.kind === 'opened') return { account: result.account, created: true };
    if (result.kind === 'alreadyOpened') {
      if (result.account.alias !== alias) {
        throw new AppError('IDEMPOTENCY_KEY_REUSED', 422, 'This open key was used to open another account');
      }
      return { account: result.account, created: false };
    }
    if (result.kind === 'limitReached') {
      throw new AppError(
        'ACCOUNT_LIMIT_REACHED',
        409,
        `A user may hold at most ${openAccountsPerUserMax} open accounts`,
      );
    }
  }
  throw new Error(`no free account number after ${accountNoAttemptsMax} attempts`);
}

/** The account, or 404 — also when `userUuid` is given and someone else owns it, so nothing leaks. */
export async function getAccount(
  store: AccountStore,
  accountNo: string,
  userUuid?: string,
): Promise<Account> {
  const account = await store.findAccount(accountNo);
  if (account === undefined || (userUuid !== undefined && account.userUuid !== userUuid))
    throw accountNotFound();
  return account;
}

export function listAccounts(store: AccountStore, userUuid: string): Promise<Account[]> {
  return store.listAccountsOfUser(userUuid);
}

export async function listTransactions(
  store: AccountStore,
  input: { accountNo: string; userUuid?: string | undefined; limit: number; cursor?: string | undefined },
): Promise<TransactionPage> {
  const before = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  await getAccount(store, input.accountNo, input.userUuid);
  const limit = Math.min(Math.max(1, input.limit), transactionsPageSizeMax);
  // One row more than the page tells whether another page exists without a count.
  const rows = await store.listTransactions(input.accountNo, limit + 1, before);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(({ seq: _seq, ...item }) => item),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.seq) : null,
  };
}

const cursorPrefix = 'e2:';
/** Cursors issued before the statement was ordered by seq carried the last entry's id. */
const entryIdCursorPrefix = 'e1:';
const seqPattern = /^[1-9][0-9]{0,18}$/;
/** PostgreSQL's bigint: a larger seq cannot exist, and would fail the query instead of matching nothing. */
const seqMax = 2n ** 63n - 1n;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Opaque to clients (base64url) so the position can change shape; the version
// prefix tells the shapes apart. An e1 cursor (an entry id) is still honoured,
// so a client paging through a statement across an upgrade carries on.
export function encodeCursor(seq: string): string {
  return Buffer.from(`${cursorPrefix}${seq}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): StatementPosition {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (text.startsWith(cursorPrefix)) {
    const seq = text.slice(cursorPrefix.length);
    if (seqPattern.test(seq) && BigInt(seq) <= seqMax) return { seq };
  } else if (text.startsWith(entryIdCursorPrefix)) {
    const entryId = text.slice(entryIdCursorPrefix.length);
    if (uuidPattern.test(entryId)) return { entryId };
  }
  throw new AppError('VALIDATION_FAILED', 400, 'cursor is not one this API issued');
}
