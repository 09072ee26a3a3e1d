import { AppError } from '@nuri/platform/errors';
import { type AccountLinkStore, requireOwnAccount } from './accounts.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type DepositStatus = 'PENDING' | 'COMPLETED' | 'FAILED';

export interface Deposit {
  depositId: string;
  accountNo: string;
  userUuid: string;
  amount: bigint;
  status: DepositStatus;
  balanceAfter: bigint | null;
  failureCode: string | null;
  requestedAt: Date;
  settledAt: Date | null;
}

export interface DepositSettlement {
  eventId: string;
  depositId: string;
  status: 'COMPLETED' | 'FAILED';
  balanceAfter: bigint | null;
  failureCode: string | null;
  settledAt: Date;
}

export interface DepositStore {
  /**
   * The PENDING row and its deposit.requested outbox event, in one
   * transaction. A deposit id already taken (a retry of a request whose answer
   * was lost) writes nothing and returns the deposit that exists.
   */
  request(deposit: Deposit, correlationId: string): Promise<Deposit>;
  find(depositId: string, userUuid: string): Promise<Deposit | undefined>;
}

export interface DepositDeps {
  links: AccountLinkStore;
  deposits: DepositStore;
}

/** Durably accepts a deposit: once this resolves it reaches the core, even if the core is down now. */
export async function requestDeposit(
  deps: DepositDeps,
  input: { depositId: string; userUuid: string; accountNo: string; amount: bigint },
  correlationId: string,
): Promise<Deposit> {
  await requireOwnAccount(deps.links, input.accountNo, input.userUuid);
  const deposit: Deposit = {
    depositId: input.depositId,
    accountNo: input.accountNo,
    userUuid: input.userUuid,
    amount: input.amount,
    status: 'PENDING',
    balanceAfter: null,
    failureCode: null,
    requestedAt: new Date(),
    settledAt: null,
  };
  return deps.deposits.request(deposit, correlationId);
}

export async function getDeposit(deps: DepositDeps, userUuid: string, depositId: string): Promise<Deposit> {
  const deposit = uuidPattern.test(depositId) ? await deps.deposits.find(depositId, userUuid) : undefined;
  if (deposit === undefined) throw new AppError('DEPOSIT_NOT_FOUND', 404, 'No such deposit');
  return deposit;
}
