import { amountToJson } from '@nuri/platform/money';
import { type ReconciliationStore, reconcile } from '../domain/settlement.ts';
import { Problem, ReconciliationSchema } from './schemas.ts';
import type { RouteScope } from './scope.ts';

/** Internal routes (the internal token is required by the scope they are registered in). */
export function registerOperationRoutes(
  scope: RouteScope,
  deps: { reconciliation: ReconciliationStore; paymentTimeoutMs: number },
): void {
  scope.get(
    '/internal/v1/reconciliation',
    { schema: { response: { 200: ReconciliationSchema, 401: Problem, 503: Problem } } },
    async () => {
      const report = await reconcile(deps.reconciliation, new Date(), deps.paymentTimeoutMs);
      return {
        checkedAt: report.checkedAt.toISOString(),
        ok: report.ok,
        stuckPayments: report.stuckPayments.map((stuck) => ({
          paymentId: stuck.paymentId,
          createdAt: stuck.createdAt.toISOString(),
          attempts: stuck.attempts,
        })),
        pendingOverdue: report.pendingOverdue,
        walletMismatches: report.walletMismatches.map((mismatch) => ({
          userUuid: mismatch.userUuid,
          balance: amountToJson(mismatch.balance),
          expected: amountToJson(mismatch.expected),
        })),
        paymentMismatches: report.paymentMismatches,
      };
    },
  );
}
