import { NameInput, PhoneInput, RrnInput } from '@nuri/contracts/identity';
import { ProblemSchema, pathParamLengthMax } from '@nuri/platform/http';
import Type, { type TSchema } from 'typebox';
import { loginIdPattern } from '../domain/auth.ts';

/** docs/api.md: one operation moves 1 to ₩100,000,000, as a JSON integer. */
export const Amount = Type.Integer({ minimum: 1, maximum: 100_000_000 });
const Money = Type.Integer({ minimum: 0 });
const Timestamp = Type.String({ format: 'date-time' });
const AccountNo = Type.String();

/** Error answers of a route, all problem+json. */
export function problems<const Codes extends readonly number[]>(...codes: Codes) {
  return Object.fromEntries(codes.map((code) => [code, ProblemSchema])) as unknown as Record<
    Codes[number],
    TSchema
  >;
}

// Bounds before the real rules (domain/auth.ts, contracts/identity.ts): nothing unbounded reaches a hash or regex.
export const SignupBody = Type.Object({
  loginId: Type.String({ pattern: loginIdPattern.source }),
  password: Type.String({ minLength: 1, maxLength: 512 }),
  name: NameInput,
  rrn: RrnInput,
  phone: Type.Optional(PhoneInput),
});

export const SignupResponse = Type.Object({
  userUuid: Type.String(),
  loginId: Type.String(),
  maskedName: Type.String(),
  maskedRrn: Type.String(),
});

export const LoginBody = Type.Object({
  loginId: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 512 }),
});

export const RefreshTokenBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 256 }),
});

export const TokenPairSchema = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer(),
});

export const ProfileSchema = Type.Object({
  userUuid: Type.String(),
  loginId: Type.String(),
  maskedName: Type.String(),
  maskedRrn: Type.String(),
  maskedPhone: Type.Union([Type.String(), Type.Null()]),
});

export const JwksSchema = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.String(),
      crv: Type.String(),
      x: Type.String(),
      kid: Type.String(),
      alg: Type.String(),
      use: Type.String(),
    }),
  ),
});

/** The public account shape (core's userUuid is not part of it). */
export const AccountSchema = Type.Object({
  accountNo: AccountNo,
  alias: Type.Union([Type.String(), Type.Null()]),
  balance: Money,
  currency: Type.Literal('KRW'),
  status: Type.Union([Type.Literal('ACTIVE'), Type.Literal('CLOSED')]),
  openedAt: Timestamp,
});

// An absent body is as good as `{}`: docs/api.md makes every field optional.
export const OpenAccountBody = Type.Union([
  Type.Object({ alias: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })) }),
  Type.Undefined(),
  Type.Null(),
]);

/** Any string up to a bound: the domain answers 404 for a malformed number, as for a foreign one. */
export const AccountParams = Type.Object({
  accountNo: Type.String({ minLength: 1, maxLength: pathParamLengthMax }),
});

export const TransactionsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

export const TransactionPageSchema = Type.Object({
  items: Type.Array(
    Type.Object({
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
      /** Transfer lines only: the other side, masked. */
      counterparty: Type.Optional(Type.Object({ maskedName: Type.String(), accountNoLast4: Type.String() })),
      memo: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    }),
  ),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const AmountBody = Type.Object({ amount: Amount });

export const DepositAccepted = Type.Object({
  depositId: Type.String(),
  accountNo: AccountNo,
  amount: Amount,
  status: Type.Literal('PENDING'),
});

export const DepositSchema = Type.Object({
  depositId: Type.String(),
  accountNo: AccountNo,
  amount: Amount,
  status: Type.Union([Type.Literal('PENDING'), Type.Literal('COMPLETED'), Type.Literal('FAILED')]),
  balanceAfter: Type.Optional(Money),
  failureCode: Type.Optional(Type.String()),
  requestedAt: Timestamp,
  settledAt: Type.Optional(Timestamp),
});

export const DepositParams = Type.Object({
  depositId: Type.String({ minLength: 1, maxLength: pathParamLengthMax }),
});

export const WithdrawalSchema = Type.Object({
  withdrawalId: Type.String(),
  accountNo: AccountNo,
  amount: Amount,
  balanceAfter: Money,
});

/** Account numbers in a body: the format here (400); a number that fails its Luhn digit is simply not found. */
const BodyAccountNo = Type.String({ pattern: '^[0-9]{3}-[0-9]{3}-[0-9]{6}$' });

export const TransferBody = Type.Object({
  fromAccountNo: BodyAccountNo,
  toAccountNo: BodyAccountNo,
  amount: Amount,
  // Bounded before the rules (domain/transfers.ts normalizeMemo: trimmed, at most 20 characters).
  memo: Type.Optional(Type.Union([Type.String({ maxLength: 80 }), Type.Null()])),
});

export const TransferSchema = Type.Object({
  transferId: Type.String(),
  fromAccountNo: AccountNo,
  toAccountNo: AccountNo,
  amount: Amount,
  balanceAfter: Money,
  memo: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
});

export const RecipientSchema = Type.Object({
  accountNo: AccountNo,
  holderMaskedName: Type.String(),
  bank: Type.Literal('NURI'),
});

export const AccountLinkQuery = Type.Object({ userUuid: Type.String({ minLength: 1, maxLength: 64 }) });
export const AccountLinkSchema = Type.Object({ accountNo: Type.String(), userUuid: Type.String() });
