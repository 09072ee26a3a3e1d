import type { IdempotencyStore } from '@nuri/platform/idempotency';
import { amountToJson, parseAmount } from '@nuri/platform/money';
import {
  chargeAmountMax,
  chargePoints,
  getBalance,
  listHistory,
  type WalletStore,
} from '../domain/points.ts';
import { userOf } from './authentication.ts';
import { respondIdempotently } from './idempotent.ts';
import {
  BalanceSchema,
  ChargeBody,
  HistoryPageSchema,
  HistoryQuery,
  historyItemToJson,
  Problem,
} from './schemas.ts';
import type { RouteScope } from './scope.ts';

export function registerPointRoutes(
  scope: RouteScope,
  deps: { wallets: WalletStore; idempotency: IdempotencyStore },
): void {
  scope.get(
    '/api/v1/points',
    { schema: { response: { 200: BalanceSchema, 401: Problem, 503: Problem } } },
    async (request) => ({ balance: amountToJson(await getBalance(deps.wallets, userOf(request))) }),
  );

  scope.post(
    '/api/v1/points/charge',
    {
      schema: {
        body: ChargeBody,
        response: {
          200: BalanceSchema,
          400: Problem,
          401: Problem,
          409: Problem,
          422: Problem,
          503: Problem,
        },
      },
    },
    async (request, reply) => {
      const userUuid = userOf(request);
      const amount = parseAmount(request.body.amount, { max: chargeAmountMax });
      // The operation id names the CHARGE row: a retry after a lost answer charges once.
      return respondIdempotently(deps.idempotency, request, reply, userUuid, 200, async (chargeId) => ({
        balance: amountToJson(await chargePoints(deps.wallets, userUuid, amount, chargeId)),
      }));
    },
  );

  scope.get(
    '/api/v1/points/history',
    {
      schema: {
        querystring: HistoryQuery,
        response: { 200: HistoryPageSchema, 400: Problem, 401: Problem, 503: Problem },
      },
    },
    async (request) => {
      const page = await listHistory(
        deps.wallets,
        userOf(request),
        request.query.limit,
        request.query.cursor,
      );
      return { items: page.items.map(historyItemToJson), nextCursor: page.nextCursor };
    },
  );
}
