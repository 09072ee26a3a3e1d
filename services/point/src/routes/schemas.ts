import { ProblemSchema, pathParamLengthMax } from '@nuri/platform/http';
import { amountToJson } from '@nuri/platform/money';
import Type from 'typebox';
import type { Payment } from '../domain/payments.ts';
import { cashAmountMax, merchantLengthMax, pointAmountMax } from '../domain/payments.ts';
import {
  chargeAmountMax,
  historyPageSizeDefault,
  historyPageSizeMax,
  type PointHistoryItem,
} from '../domain/points.ts';

export const Problem = ProblemSchema;
export const AccountNo = Type.String({ pattern: '^[0-9]{3}-[0-9]{3}-[0-9]{6}$' });
export const Timestamp = Type.String({ format: 'date-time' });
const Points = Type.Integer({ minimum: 0 });

export const ChargeBody = Type.Object({
  amount: Type.Integer({ minimum: 1, maximum: Number(chargeAmountMax) }),
});
export const BalanceSchema = Type.Object({ balance: Points });

export const HistoryQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: historyPageSizeMax, default: historyPageSizeDefault }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export const HistoryItemSchema = Type.Object({
  id: Type.String(),
  type: Type.Union([Type.Literal('CHARGE'), Type.Literal('USE'), Type.Literal('REFUND')]),
  amount: Points,
  balanceAfter: Points,
  paymentId: Type.Optional(Type.String()),
  createdAt: Timestamp,
});
export const HistoryPageSchema = Type.Object({
  items: Type.Array(HistoryItemSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

// Each amount ≥ 0 here; "at least one > 0" spans two fields and is the use case's rule.
export const PaymentBody = Type.Object({
  accountNo: AccountNo,
  cashAmount: Type.Integer({ minimum: 0, maximum: Number(cashAmountMax) }),
  pointAmount: Type.Integer({ minimum: 0, maximum: Number(pointAmountMax) }),
  merchant: Type.Optional(Type.String({ minLength: 1, maxLength: merchantLengthMax })),
  orderId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
});
const PaymentStatusSchema = Type.Union([
  Type.Literal('PENDING'),
  Type.Literal('COMPLETED'),
  Type.Literal('FAILED'),
]);
export const PaymentAcceptedSchema = Type.Object({
  paymentId: Type.String(),
  orderId: Type.String(),
  status: Type.Literal('PENDING'),
  cashAmount: Points,
  pointAmount: Points,
});
export const PaymentSchema = Type.Object({
  paymentId: Type.String(),
  orderId: Type.String(),
  status: PaymentStatusSchema,
  cashAmount: Points,
  pointAmount: Points,
  failureCode: Type.Optional(Type.String()),
  createdAt: Timestamp,
  settledAt: Type.Optional(Timestamp),
});
// Any string up to a UUID's length: a malformed id answers 404 like a missing one.
export const PaymentParams = Type.Object({
  paymentId: Type.String({ minLength: 1, maxLength: pathParamLengthMax }),
});
export const Uuid = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
});

export const ReconciliationSchema = Type.Object({
  checkedAt: Timestamp,
  ok: Type.Boolean(),
  stuckPayments: Type.Array(
    Type.Object({ paymentId: Type.String(), createdAt: Timestamp, attempts: Type.Integer() }),
  ),
  pendingOverdue: Type.Integer({ minimum: 0 }),
  walletMismatches: Type.Array(
    Type.Object({ userUuid: Type.String(), balance: Type.Integer(), expected: Type.Integer() }),
  ),
  paymentMismatches: Type.Array(
    Type.Object({
      paymentId: Type.String(),
      status: Type.Union([PaymentStatusSchema, Type.Null()]),
      problem: Type.String(),
    }),
  ),
});

export function historyItemToJson(item: PointHistoryItem) {
  return {
    id: item.id,
    type: item.type,
    amount: amountToJson(item.amount),
    balanceAfter: amountToJson(item.balanceAfter),
    ...(item.paymentId === null ? {} : { paymentId: item.paymentId }),
    createdAt: item.createdAt.toISOString(),
  };
}

// docs/api.md fixes the 202 body at PENDING: "accepted, ask GET for the outcome".
// A points-only payment is already COMPLETED by then, which GET shows; the
// 202 stays the same shape for every payment so clients have one path.
export function paymentAcceptedToJson(payment: Payment) {
  return {
    paymentId: payment.paymentId,
    orderId: payment.orderId,
    status: 'PENDING' as const,
    cashAmount: amountToJson(payment.cashAmount),
    pointAmount: amountToJson(payment.pointAmount),
  };
}

export function paymentToJson(payment: Payment) {
  return {
    paymentId: payment.paymentId,
    orderId: payment.orderId,
    status: payment.status,
    cashAmount: amountToJson(payment.cashAmount),
    pointAmount: amountToJson(payment.pointAmount),
    ...(payment.failureCode === null ? {} : { failureCode: payment.failureCode }),
    createdAt: payment.createdAt.toISOString(),
    ...(payment.settledAt === null ? {} : { settledAt: payment.settledAt.toISOString() }),
  };
}
