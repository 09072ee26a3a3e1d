import type { HttpApp } from '@nuri/platform/http';
import { type IdempotencyStore, keyTaken } from '@nuri/platform/idempotency';
import { amountToJson, parseAmount } from '@nuri/platform/money';
import { type Deposit, type DepositDeps, getDeposit, requestDeposit } from '../domain/deposits.ts';
import { userOf } from './authenticate.ts';
import {
  AccountParams,
  AmountBody,
  DepositAccepted,
  DepositParams,
  DepositSchema,
  problems,
} from './schemas.ts';

export function registerDepositRoutes(app: HttpApp, deps: DepositDeps, idempotency: IdempotencyStore): void {
  app.post(
    '/api/v1/accounts/:accountNo/deposits',
    {
      schema: {
        params: AccountParams,
        body: AmountBody,
        response: { 202: DepositAccepted, ...problems(400, 401, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const userUuid = userOf(request);
      const amount = parseAmount(request.body.amount);
      // The operation id is the deposit id, and the key (if any) is bound in
      // the deposit's own statement with the 202 it answers: no write of its own.
      return idempotency.handleInEffect(request, reply, userUuid, async (depositId, binding) => {
        const accepted = await requestDeposit(
          deps,
          { depositId, userUuid, accountNo: request.params.accountNo, amount },
          request.id,
          binding === undefined ? undefined : { binding, answer: acceptedAnswer },
        );
        return accepted === keyTaken ? keyTaken : acceptedAnswer(accepted);
      });
    },
  );

  app.get(
    '/api/v1/deposits/:depositId',
    { schema: { params: DepositParams, response: { 200: DepositSchema, ...problems(401, 404) } } },
    async (request) => depositToJson(await getDeposit(deps, userOf(request), request.params.depositId)),
  );
}

function acceptedAnswer(deposit: Deposit) {
  return {
    statusCode: 202,
    body: {
      depositId: deposit.depositId,
      accountNo: deposit.accountNo,
      amount: amountToJson(deposit.amount),
      status: 'PENDING',
    },
  };
}

function depositToJson(deposit: Deposit) {
  return {
    depositId: deposit.depositId,
    accountNo: deposit.accountNo,
    amount: amountToJson(deposit.amount),
    status: deposit.status,
    ...(deposit.balanceAfter === null ? {} : { balanceAfter: amountToJson(deposit.balanceAfter) }),
    ...(deposit.failureCode === null ? {} : { failureCode: deposit.failureCode }),
    requestedAt: deposit.requestedAt.toISOString(),
    ...(deposit.settledAt === null ? {} : { settledAt: deposit.settledAt.toISOString() }),
  };
}
