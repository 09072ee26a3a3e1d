import { type IdempotencyStore, keyTaken } from '@nuri/platform/idempotency';
import { parseAmount } from '@nuri/platform/money';
import {
  type AccountLinks,
  cashAmountMax,
  getPayment,
  type Payment,
  type PaymentStore,
  pointAmountMax,
  startPayment,
} from '../domain/payments.ts';
import { userOf } from './authentication.ts';
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
      // The operation id is the payment id, and the key (if any) is bound in the
      // payment's own transaction with the 202 it answers: no write of its own.
      // A refusal (400, 404, 409) is bound to the key by the store and replayed.
      const answer = await deps.idempotency.handleInEffect(
        request,
        reply,
        userUuid,
        async (paymentId, binding) => {
          const started = await startPayment(
            deps,
            { ...input, paymentId },
            binding === undefined ? undefined : { binding, answer: acceptedAnswer },
          );
          return started === keyTaken ? keyTaken : acceptedAnswer(started);
        },
      );
      // The store replays a stored body as unknown: it is the body this route answered the first time.
      return answer as ReturnType<typeof paymentAcceptedToJson>;
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

/** The 202 a payment is accepted with, known before it is written. */
function acceptedAnswer(payment: Payment) {
  return { statusCode: 202, body: paymentAcceptedToJson(payment) };
}
