import { type HttpApp, pathParamLengthMax } from '@nuri/platform/http';
import { type IdempotencyStore, markDelegatedReplay, readIdempotencyKey } from '@nuri/platform/idempotency';
import { parseAmount } from '@nuri/platform/money';
import Type from 'typebox';
import { getTransfer, lookUpRecipient, sendTransfer, type TransferDeps } from '../domain/transfers.ts';
import { userOf } from './authenticate.ts';
import { problems, RecipientSchema, TransferBody, TransferSchema } from './schemas.ts';

/** docs/api.md "Transfers (이체)": recipient look-up, the transfer, and reading one back. */
export function registerTransferRoutes(
  app: HttpApp,
  deps: TransferDeps,
  idempotency: IdempotencyStore,
): void {
  app.get(
    '/api/v1/transfer-recipients/:accountNo',
    {
      schema: {
        params: Type.Object({ accountNo: Type.String({ minLength: 1, maxLength: pathParamLengthMax }) }),
        response: { 200: RecipientSchema, ...problems(401, 404, 429, 503) },
      },
    },
    async (request) => lookUpRecipient(deps, userOf(request), request.params.accountNo, request.id),
  );

  app.post(
    '/api/v1/transfers',
    {
      schema: {
        body: TransferBody,
        response: { 200: TransferSchema, ...problems(400, 401, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const userUuid = userOf(request);
      const amount = parseAmount(request.body.amount);
      const idempotencyKey = readIdempotencyKey(request);
      // As for withdrawals: the core keeps every transfer's answer under the
      // client's key and replays it; here the key is only bound to this request,
      // so a reuse on another route or with another body is still a 422.
      return idempotency.handleDelegated(request, reply, userUuid, async (repeat) => {
        const transfer = await sendTransfer(
          deps,
          {
            userUuid,
            fromAccountNo: request.body.fromAccountNo,
            toAccountNo: request.body.toAccountNo,
            amount,
            memo: request.body.memo,
            idempotencyKey,
          },
          request.id,
          (afterLostAttempt) => markDelegatedReplay(reply, repeat, afterLostAttempt),
        );
        request.log.info({ transferId: transfer.transferId, amount: transfer.amount }, 'transfer sent');
        return { statusCode: 200, body: transfer };
      });
    },
  );

  app.get(
    '/api/v1/transfers/:transferId',
    {
      schema: {
        params: Type.Object({ transferId: Type.String({ minLength: 1, maxLength: pathParamLengthMax }) }),
        response: { 200: TransferSchema, ...problems(401, 404, 503) },
      },
    },
    async (request) => getTransfer(deps, userOf(request), request.params.transferId, request.id),
  );
}
