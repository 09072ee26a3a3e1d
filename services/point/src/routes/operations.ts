import {
  OutboxBacklogSchema,
  type PaymentsOverview,
  PaymentsOverviewSchema,
  stuckPaymentsListedMax,
} from '@nuri/contracts/operations';
import { AppError } from '@nuri/platform/errors';
import type { OutboxBacklog } from '@nuri/platform/kafka/outbox';
import { amountToJson } from '@nuri/platform/money';
import { Type } from 'typebox';
import { type ReconciliationStore, reconcile, type TimeoutStore } from '../domain/settlement.ts';
import { Problem, ReconciliationSchema, Uuid } from './schemas.ts';
import type { RouteScope } from './scope.ts';

/** Internal routes (the internal token is required by the scope they are registered in). */
export function registerOperationRoutes(
  scope: RouteScope,
  deps: {
    reconciliation: ReconciliationStore;
    paymentTimeoutMs: number;
    stuck: Pick<TimeoutStore, 'retryStuck'>;
    outbox: () => Promise<OutboxBacklog>;
    paymentsOverview: (now: Date, stuckListedMax: number) => Promise<PaymentsOverview>;
  },
): void {
  // For the operator console (through the gateway): what the outbox holds back, and the payments.
  scope.get(
    '/internal/v1/ops/outbox',
    { schema: { response: { 200: OutboxBacklogSchema, 401: Problem, 403: Problem } } },
    async () => deps.outbox(),
  );

  scope.get(
    '/internal/v1/ops/payments',
    { schema: { response: { 200: PaymentsOverviewSchema, 401: Problem, 403: Problem } } },
    async () => deps.paymentsOverview(new Date(), stuckPaymentsListedMax),
  );

  // The resolution of a payment reconciliation reports stuck (`nuri payments retry`).
  scope.post(
    '/internal/v1/payments/:paymentId/retry',
    {
      schema: {
        params: Type.Object({ paymentId: Uuid }),
        response: {
          200: Type.Object({ paymentId: Uuid, retried: Type.Literal(true) }),
          400: Problem,
          401: Problem,
          404: Problem,
          409: Problem,
        },
      },
    },
    async (request) => {
      const { paymentId } = request.params;
      const outcome = await deps.stuck.retryStuck(paymentId, new Date());
      if (outcome === 'notFound') throw new AppError('PAYMENT_NOT_FOUND', 404, 'No such payment');
      if (outcome === 'notStuck') {
        throw new AppError('PAYMENT_NOT_STUCK', 409, 'Only a PENDING payment reported stuck can be retried');
      }
      request.log.warn({ paymentId }, 'stuck payment retried by an operator');
      return { paymentId, retried: true as const };
    },
  );

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
