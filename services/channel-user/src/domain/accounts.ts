import { AppError } from '@nuri/platform/errors';
import type { HolderNames, Transfer, TransferRequest } from './transfers.ts';

/** docs/api.md account numbers: `ddd-ddd-dddddd`. */
const accountNoPattern = /^\d{3}-\d{3}-\d{6}$/;

export interface Account {
  accountNo: string;
  alias: string | null;
  balance: number;
  currency: 'KRW';
  status: 'ACTIVE' | 'CLOSED';
  openedAt: string;
}

export type TransactionType = 'DEPOSIT' | 'WITHDRAWAL' | 'PAYMENT' | 'TRANSFER_OUT' | 'TRANSFER_IN';

export interface Transaction {
  id: string;
  type: TransactionType;
  amount: number;
  balanceAfter: number;
  reference: string;
  createdAt: string;
  /** Transfer lines: the other side, named by its holder's masked name and the last 4 digits. */
  counterparty?: { maskedName: string; accountNoLast4: string };
  memo?: string | null;
}

export interface TransactionPage {
  items: Transaction[];
  nextCursor: string | null;
}

/** A statement line as the core gives it: a transfer's other side is a userUuid, named here. */
export type CoreTransaction = Omit<Transaction, 'counterparty'> & {
  counterparty?: { userUuid: string; accountNoLast4: string };
};

export interface WithdrawalRequest {
  accountNo: string;
  userUuid: string;
  amount: bigint;
  idempotencyKey: string;
}

export interface Withdrawal {
  withdrawalId: string;
  accountNo: string;
  amount: number;
  balanceAfter: number;
}

/** core-payment, the owner of accounts and balances. */
export interface CoreLedger {
  /**
   * Opens an account, idempotently per (user, openKey): a repeat with the
   * same key answers the account already opened, so retries are safe.
   */
  openAccount(
    request: { userUuid: string; alias: string | undefined; openKey: string },
    requestId: string,
  ): Promise<Account>;
  listAccounts(userUuid: string, requestId: string): Promise<Account[]>;
  getAccount(accountNo: string, userUuid: string, requestId: string): Promise<Account>;
  listTransactions(
    accountNo: string,
    userUuid: string,
    page: { limit: number; cursor: string | undefined },
    requestId: string,
  ): Promise<{ items: CoreTransaction[]; nextCursor: string | null }>;
  /** Who holds an account and whether it is open; undefined when there is no such account. */
  findHolder(
    accountNo: string,
    requestId: string,
  ): Promise<{ userUuid: string; status: 'ACTIVE' | 'CLOSED' } | undefined>;
  /** Moves money once per (userUuid, idempotencyKey); `onReplay` as for withdrawals. */
  transfer(request: TransferRequest, requestId: string, onReplay?: ReplayListener): Promise<Transfer>;
  /** A transfer `userUuid` sent, or undefined. */
  getTransfer(transferId: string, userUuid: string, requestId: string): Promise<Transfer | undefined>;
  /**
   * Debits once per (userUuid, idempotencyKey). `onReplay` is told when the
   * core answered from its record of an earlier request with that key.
   */
  withdraw(request: WithdrawalRequest, requestId: string, onReplay?: ReplayListener): Promise<Withdrawal>;
}

/**
 * Told that the core answered from its record of an earlier request with
 * the key; `afterLostAttempt`: an earlier attempt of this very call may have
 * reached the core, so the record may be this request's own.
 */
export type ReplayListener = (afterLostAttempt: boolean) => void;

/** Which accounts belong to whom, kept locally so ownership needs no core round-trip. */
export interface AccountLinkStore {
  link(accountNo: string, userUuid: string): Promise<void>;
  linkAll(accountNos: readonly string[], userUuid: string): Promise<void>;
  isLinked(accountNo: string, userUuid: string): Promise<boolean>;
}

export interface AccountDeps {
  ledger: CoreLedger;
  links: AccountLinkStore;
  /** Names the other side of transfer lines. */
  names: HolderNames;
  newIdempotencyKey: () => string;
}

export function accountNotFound(): AppError {
  return new AppError('ACCOUNT_NOT_FOUND', 404, 'No such account');
}

/**
 * Ownership check on the local link. A malformed number, someone else's
 * account and a missing one all answer the same 404, so nothing leaks.
 */
export async function requireOwnAccount(
  links: AccountLinkStore,
  accountNo: string,
  userUuid: string,
): Promise<void> {
  if (!accountNoPattern.test(accountNo)) throw accountNotFound();
  if (!(await links.isLinked(accountNo, userUuid))) throw accountNotFound();
}

/**
 * Opens at the core under `openKey` (the public request's operation id: the
 * same on the client's retries with its Idempotency-Key, and on our own
 * retries of the core call), so an answer lost on the way back never opens a
 * second account.
 */
export async function openAccount(
  deps: AccountDeps,
  request: { userUuid: string; alias: string | undefined; openKey: string },
  requestId: string,
): Promise<Account> {
  const { userUuid } = request;
  const account = await deps.ledger.openAccount(request, requestId);
  await deps.links.link(account.accountNo, userUuid);
  return account;
}

export async function listAccounts(
  deps: AccountDeps,
  userUuid: string,
  requestId: string,
): Promise<Account[]> {
  const accounts = await deps.ledger.listAccounts(userUuid, requestId);
  // Heals a link lost between the core's 201 and our insert (a crash there):
  // the core is the owner of record, so its list is the truth.
  await deps.links.linkAll(
    accounts.map((account) => account.accountNo),
    userUuid,
  );
  return accounts;
}

export async function getAccount(
  deps: AccountDeps,
  userUuid: string,
  accountNo: string,
  requestId: string,
): Promise<Account> {
  await requireOwnAccount(deps.links, accountNo, userUuid);
  return deps.ledger.getAccount(accountNo, userUuid, requestId);
}

export async function listTransactions(
  deps: AccountDeps,
  userUuid: string,
  accountNo: string,
  page: { limit: number; cursor: string | undefined },
  requestId: string,
): Promise<TransactionPage> {
  await requireOwnAccount(deps.links, accountNo, userUuid);
  const core = await deps.ledger.listTransactions(accountNo, userUuid, page, requestId);
  const holders = core.items.flatMap((item) =>
    item.counterparty === undefined ? [] : [item.counterparty.userUuid],
  );
  const names =
    holders.length === 0 ? new Map<string, string>() : await deps.names.maskedNamesOf(holders, requestId);
  return {
    items: core.items.map(({ counterparty, ...item }) =>
      counterparty === undefined
        ? item
        : {
            ...item,
            // A holder nobody can name (no login, registry silent) is shown masked entirely.
            counterparty: {
              maskedName: names.get(counterparty.userUuid) ?? '***',
              accountNoLast4: counterparty.accountNoLast4,
            },
          },
    ),
    nextCursor: core.nextCursor,
  };
}

/**
 * Synchronous debit at the core. The key (the client's, or one made for this
 * request) travels with every retry, so the core debits at most once.
 */
export async function withdraw(
  deps: AccountDeps,
  request: { userUuid: string; accountNo: string; amount: bigint; idempotencyKey: string | undefined },
  requestId: string,
  onReplay?: ReplayListener,
): Promise<Withdrawal> {
  await requireOwnAccount(deps.links, request.accountNo, request.userUuid);
  return deps.ledger.withdraw(
    {
      accountNo: request.accountNo,
      userUuid: request.userUuid,
      amount: request.amount,
      idempotencyKey: request.idempotencyKey ?? deps.newIdempotencyKey(),
    },
    requestId,
    onReplay,
  );
}
