import { AppError } from '@nuri/platform/errors';
import type { EffectKey, keyTaken } from '@nuri/platform/idempotency';
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

/** The client's Idempotency-Key, bound in the deposit's own statement with the answer it gets. */
export type DepositKey = EffectKey<Deposit>;

export interface DepositStore {
  /**
   * The PENDING row and its deposit.requested outbox event, in one
   * transaction. A deposit id already
   * taken (a retry of a request whose answer was lost) writes nothing and
   * returns the deposit that exists.
   */
  request(deposit: Deposit, correlationId: string): Promise<Deposit>;
  /** `request` with the key's row in the same statement; a key already bound writes nothing: `keyTaken`. */
  requestKeyed(deposit: Deposit, correlationId: string, key: DepositKey): Promise<Deposit | typeof keyTaken>;
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
  key?: DepositKey,
): Promise<Deposit | typeof keyTaken> {
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
  return key === undefined
    ? deps.deposits.request(deposit, correlationId)
    : deps.deposits.requestKeyed(deposit, correlationId, key);
}

export async function getDeposit(deps: DepositDeps, userUuid: string, depositId: string): Promise<Deposit> {
  const deposit = uuidPattern.test(depositId) ? await deps.deposits.find(depositId, userUuid) : undefined;
  if (deposit === undefined) throw new AppError('DEPOSIT_NOT_FOUND', 404, 'No such deposit');
  return deposit;
}
