import type { HttpApp } from '@nuri/platform/http';
import { idempotentReplayedHeader } from '@nuri/platform/idempotency';
import { amountToJson } from '@nuri/platform/money';
import Type from 'typebox';
import {
  getTransfer,
  memoLengthMax,
  type Transfer,
  type TransferStore,
  transfer,
} from '../domain/transfers.ts';
import { AccountNo, Amount, IdempotencyKey, Money, Problem, Timestamp, UserUuid, Uuidv7 } from './schemas.ts';

const TransferSchema = Type.Object({
  transferId: Uuidv7,
  fromAccountNo: AccountNo,
  toAccountNo: AccountNo,
  amount: Money,
  balanceAfter: Money,
  memo: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
});

/** channel-user's transfers (이체): one synchronous call moves both sides. */
export function registerTransferRoutes(app: HttpApp, transfers: TransferStore): void {
  app.post(
    '/internal/v1/transfers',
    {
      schema: {
        body: Type.Object({
          userUuid: UserUuid,
          fromAccountNo: AccountNo,
          toAccountNo: AccountNo,
          amount: Amount,
          // Bounded before the rules (domain/transfers.ts): trimmed, at most 20 characters.
          memo: Type.Optional(Type.Union([Type.String({ maxLength: memoLengthMax * 4 }), Type.Null()])),
          idempotencyKey: IdempotencyKey,
        }),
        response: {
          200: TransferSchema,
          400: Problem,
          401: Problem,
          403: Problem,
          404: Problem,
          409: Problem,
          422: Problem,
          503: Problem,
        },
      },
    },
    async (request, reply) => {
      const result = await transfer(
        transfers,
        {
          userUuid: request.body.userUuid,
          fromAccountNo: request.body.fromAccountNo,
          toAccountNo: request.body.toAccountNo,
          amount: BigInt(request.body.amount),
          memo: request.body.memo ?? null,
          idempotencyKey: request.body.idempotencyKey,
        },
        // The answer (200 or a recorded refusal) is the one stored for this key.
        () => reply.header(idempotentReplayedHeader, 'true'),
      );
      return transferToJson(result);
    },
  );

  app.get(
    '/internal/v1/transfers/:transferId',
    {
      schema: {
        params: Type.Object({ transferId: Uuidv7 }),
        querystring: Type.Object({ userUuid: UserUuid }),
        response: { 200: TransferSchema, 400: Problem, 401: Problem, 403: Problem, 404: Problem },
      },
    },
    async (request) =>
      transferToJson(await getTransfer(transfers, request.params.transferId, request.query.userUuid)),
  );
}

function transferToJson(item: Transfer) {
  return {
    transferId: item.transferId,
    fromAccountNo: item.fromAccountNo,
    toAccountNo: item.toAccountNo,
    amount: amountToJson(item.amount),
    balanceAfter: amountToJson(item.balanceAfter),
    memo: item.memo,
    createdAt: item.createdAt.toISOString(),
  };
}
