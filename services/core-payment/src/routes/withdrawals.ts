import type { HttpApp } from '@nuri/platform/http';
import { idempotentReplayedHeader } from '@nuri/platform/idempotency';
import { amountToJson } from '@nuri/platform/money';
import Type from 'typebox';
import { type WithdrawalStore, withdraw } from '../domain/withdrawals.ts';
import { AccountNo, Amount, IdempotencyKey, Money, Problem, UserUuid } from './schemas.ts';

export function registerWithdrawalRoutes(app: HttpApp, withdrawals: WithdrawalStore): void {
  app.post(
    '/internal/v1/accounts/:accountNo/withdrawals',
    {
      schema: {
        params: Type.Object({ accountNo: AccountNo }),
        body: Type.Object({ userUuid: UserUuid, amount: Amount, idempotencyKey: IdempotencyKey }),
        response: {
          200: Type.Object({
            withdrawalId: Type.String(),
            accountNo: AccountNo,
            amount: Money,
            balanceAfter: Money,
          }),
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
      const result = await withdraw(
        withdrawals,
        {
          accountNo: request.params.accountNo,
          userUuid: request.body.userUuid,
          amount: BigInt(request.body.amount),
          idempotencyKey: request.body.idempotencyKey,
        },
        // The answer (200 or a refusal) is the one stored for this key.
        () => reply.header(idempotentReplayedHeader, 'true'),
      );
      return {
        withdrawalId: result.withdrawalId,
        accountNo: result.accountNo,
        amount: amountToJson(result.amount),
        balanceAfter: amountToJson(result.balanceAfter),
      };
    },
  );
}
