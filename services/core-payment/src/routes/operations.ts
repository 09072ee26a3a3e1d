import { OutboxBacklogSchema } from '@nuri/contracts/operations';
import { DepositTotalsQuerySchema, DepositTotalsSchema } from '@nuri/contracts/reconciliation';
import type { HttpApp } from '@nuri/platform/http';
import type { OutboxBacklog } from '@nuri/platform/kafka/outbox';
import { amountToJson } from '@nuri/platform/money';
import Type from 'typebox';
import { type CouponStore, recordedCount } from '../domain/coupons.ts';
import {
  type MoneySupply,
  moneySupplyHolds,
  type ReconciliationStore,
  reconcile,
} from '../domain/reconciliation.ts';
import { AccountNo, Problem, Timestamp, Uuidv7 } from './schemas.ts';

const ReconciliationSchema = Type.Object({
  checkedAt: Timestamp,
  accountsChecked: Type.Integer({ minimum: 0 }),
  balanceMismatches: Type.Array(
    Type.Object({ accountNo: AccountNo, balance: Type.Integer(), ledgerSum: Type.Integer() }),
  ),
  unbalancedTransactions: Type.Array(Type.String()),
  duplicateApplications: Type.Array(
    Type.Object({ type: Type.String(), reference: Type.String(), applications: Type.Integer() }),
  ),
  /** Won as decimal strings: sums over every account may pass 2^53. */
  moneySupply: Type.Object({
    balances: Type.String(),
    deposits: Type.String(),
    withdrawals: Type.String(),
    payments: Type.String(),
    transfersOut: Type.String(),
    transfersIn: Type.String(),
    ok: Type.Boolean(),
  }),
  transferMismatches: Type.Array(Type.String()),
  ok: Type.Boolean(),
});

export function registerOperationRoutes(
  app: HttpApp,
  stores: {
    coupons: CouponStore;
    reconciliation: ReconciliationStore;
    outbox: () => Promise<OutboxBacklog>;
  },
): void {
  // What the outbox holds back, for the operator console (through the gateway).
  app.get(
    '/internal/v1/ops/outbox',
    { schema: { response: { 200: OutboxBacklogSchema, 401: Problem, 403: Problem } } },
    async () => stores.outbox(),
  );

  // The deposits this core settled in an id range, for `nuri reconcile` to hold against channel-user's.
  app.get(
    '/internal/v1/deposit-totals',
    {
      schema: {
        querystring: DepositTotalsQuerySchema,
        response: { 200: DepositTotalsSchema, 400: Problem, 401: Problem },
      },
    },
    async (request) =>
      stores.reconciliation.depositTotals({
        from: request.query.from,
        to: request.query.to,
        detail: request.query.detail === true,
      }),
  );

  app.get(
    '/internal/v1/coupon-campaigns/:campaignId/recorded-count',
    {
      schema: {
        params: Type.Object({ campaignId: Uuidv7 }),
        response: {
          200: Type.Object({ campaignId: Uuidv7, recorded: Type.Integer({ minimum: 0 }) }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => recordedCount(stores.coupons, request.params.campaignId),
  );

  app.get(
    '/internal/v1/reconciliation',
    { schema: { response: { 200: ReconciliationSchema, 401: Problem } } },
    async () => {
      const report = await reconcile(stores.reconciliation);
      return {
        ...report,
        checkedAt: report.checkedAt.toISOString(),
        balanceMismatches: report.balanceMismatches.map((mismatch) => ({
          accountNo: mismatch.accountNo,
          balance: amountToJson(mismatch.balance),
          ledgerSum: amountToJson(mismatch.ledgerSum),
        })),
        moneySupply: {
          ...Object.fromEntries(
            Object.entries(report.moneySupply).map(([name, won]) => [name, won.toString()]),
          ),
          ok: moneySupplyHolds(report.moneySupply),
        } as Record<keyof MoneySupply, string> & { ok: boolean },
      };
    },
  );
}
