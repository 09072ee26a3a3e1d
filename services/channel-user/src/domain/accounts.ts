import { AppError } from '@nuri/platform/errors';

/** API.md account numbers: `ddd-ddd-dddddd`. */
const accountNoPattern = /^\d{3}-\d{3}-\d{6}$/;

export interface Account {
  accountNo: string;
  alias: string | null;
  balance: number;
  currency: 'KRW';
  status: 'ACTIVE' | 'CLOSED';
  openedAt: string;
}

export interface Transaction {
  id: string;
  type: 'DEPOSIT' | 'WITHDRAWAL' | 'PAYMENT';
  amount: number;
  balanceAfter: number;
  reference: string;
  createdAt: string;
}

export interface TransactionPage {
  items: Transaction[];
  nextCursor: string | null;
}

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
  ): Promise<TransactionPage>;
  /**
   * Debits once per (userUuid, idempotencyKey). `onReplay` is told when the
   * core answered from its record of an earlier request with that key.
   */
  withdraw(request: WithdrawalRequest, requestId: string, onReplay?: () => void): Promise<Withdrawal>;
}

/** Which accounts belong to whom, kept locally so ownership needs no core round-trip. */
export interface AccountLinkStore {
  link(accountNo: string, userUuid: string): Promise<void>;
  linkAll(accountNos: readonly string[], userUuid: string): Promise<void>;
  isLinked(accountNo: string, userUuid: string): Promise<boolean>;
}

export interface AccountDeps {
  ledger: CoreLedger;
  links: AccountLinkStore;
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
  return deps.ledger.listTransactions(accountNo, userUuid, page, requestId);
}

/**
 * Synchronous debit at the core. The key (the client's, or one made for this
 * request) travels with every retry, so the core debits at most once.
 */
export async function withdraw(
  deps: AccountDeps,
  request: { userUuid: string; accountNo: string; amount: bigint; idempotencyKey: string | undefined },
  requestId: string,
  onReplay?: () => void,
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
