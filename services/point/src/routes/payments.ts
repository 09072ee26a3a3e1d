import type { IdempotencyStore } from '@nuri/platform/idempotency';
import { parseAmount } from '@nuri/platform/money';
import {
  type AccountLinks,
  cashAmountMax,
  getPayment,
  type PaymentStore,
  pointAmountMax,
  startPayment,
} from '../domain/payments.ts';
import { userOf } from './authentication.ts';
import { respondIdempotently } from './idempotent.ts';
import {
  PaymentAcceptedSchema,
  PaymentBody,
  PaymentParams,
  PaymentSchema,
  Problem,
  paymentAcceptedToJson,
  paymentToJson,
} from './schemas.ts';
import type { RouteScope } from './scope.ts';

export function registerPaymentRoutes(
  scope: RouteScope,
  deps: { payments: PaymentStore; accountLinks: AccountLinks; idempotency: IdempotencyStore },
): void {
  scope.post(
    '/api/v1/payments',
    {
      schema: {
        body: PaymentBody,
        response: {
          202: PaymentAcceptedSchema,
          400: Problem,
          401: Problem,
          404: Problem,
          409: Problem,
          422: Problem,
          503: Problem,
        },
      },
    },
    async (request, reply) => {
      const userUuid = userOf(request);
      const { body } = request;
      const input = {
        userUuid,
        accountNo: body.accountNo,
        cashAmount: parseAmount(body.cashAmount, { min: 0n, max: cashAmountMax }),
        pointAmount: parseAmount(body.pointAmount, { min: 0n, max: pointAmountMax }),
        merchant: body.merchant,
        orderId: body.orderId,
      };
      // The operation id is the payment id: a retry after a lost answer finds the same payment.
      return respondIdempotently(deps.idempotency, request, reply, userUuid, 202, async (paymentId) =>
        paymentAcceptedToJson(await startPayment(deps, { ...input, paymentId })),
      );
    },
  );

  scope.get(
    '/api/v1/payments/:paymentId',
    {
      schema: {
        params: PaymentParams,
        response: { 200: PaymentSchema, 401: Problem, 404: Problem, 503: Problem },
      },
    },
    async (request) =>
      paymentToJson(await getPayment(deps.payments, userOf(request), request.params.paymentId)),
  );
}
