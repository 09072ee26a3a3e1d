import { ProblemSchema } from '@nuri/platform/http';
import { amountToJson } from '@nuri/platform/money';
import Type from 'typebox';
import type { Account, TransactionItem } from '../domain/accounts.ts';
import { aliasLengthMax, transactionsPageSizeMax } from '../domain/accounts.ts';

export const UserUuid = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
});
export const AccountNo = Type.String({ pattern: '^[0-9]{3}-[0-9]{3}-[0-9]{6}$' });
export const Uuidv7 = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
});
/** docs/api.md: one operation moves 1 to ₩100,000,000. */
export const Amount = Type.Integer({ minimum: 1, maximum: 100_000_000 });
export const Money = Type.Integer({ minimum: 0 });
export const Timestamp = Type.String({ format: 'date-time' });
export const IdempotencyKey = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
/** Generous for surrounding spaces; the trimmed alias must be 1–30 (checked by the domain). */
export const AliasInput = Type.String({ minLength: 1, maxLength: aliasLengthMax * 4 });
export const Cursor = Type.String({ minLength: 1, maxLength: 200 });
export const PageLimit = Type.Integer({ minimum: 1, maximum: transactionsPageSizeMax, default: 20 });

export const Problem = ProblemSchema;

export const AccountSchema = Type.Object({
  accountNo: AccountNo,
  userUuid: UserUuid,
  alias: Type.Union([Type.String(), Type.Null()]),
  balance: Money,
  currency: Type.Literal('KRW'),
  status: Type.Union([Type.Literal('ACTIVE'), Type.Literal('CLOSED')]),
  openedAt: Timestamp,
});

export const TransactionSchema = Type.Object({
  id: Type.String(),
  type: Type.Union([
    Type.Literal('DEPOSIT'),
    Type.Literal('WITHDRAWAL'),
    Type.Literal('PAYMENT'),
    Type.Literal('TRANSFER_OUT'),
    Type.Literal('TRANSFER_IN'),
  ]),
  amount: Money,
  balanceAfter: Money,
  reference: Type.String(),
  createdAt: Timestamp,
  /** Transfer lines: the other side (its holder's userUuid, for the channel to name) and the memo. */
  counterparty: Type.Optional(Type.Object({ userUuid: UserUuid, accountNoLast4: Type.String() })),
  memo: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

export function accountToJson(account: Account) {
  return {
    accountNo: account.accountNo,
    userUuid: account.userUuid,
    alias: account.alias,
    balance: amountToJson(account.balance),
    currency: account.currency,
    status: account.status,
    openedAt: account.openedAt.toISOString(),
  };
}

export function transactionToJson(item: TransactionItem) {
  return {
    id: item.id,
    type: item.type,
    amount: amountToJson(item.amount),
    balanceAfter: amountToJson(item.balanceAfter),
    reference: item.reference,
    createdAt: item.createdAt.toISOString(),
    ...(item.transfer === undefined
      ? {}
      : { counterparty: item.transfer.counterparty, memo: item.transfer.memo }),
  };
}
