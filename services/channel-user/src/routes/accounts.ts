import type { HttpApp } from '@nuri/platform/http';
import { type IdempotencyStore, markDelegatedReplay, readIdempotencyKey } from '@nuri/platform/idempotency';
import { parseAmount } from '@nuri/platform/money';
import Type from 'typebox';
import {
  type AccountDeps,
  getAccount,
  listAccounts,
  listTransactions,
  openAccount,
  withdraw,
} from '../domain/accounts.ts';
import { checkAlias } from '../domain/alias.ts';
import { userOf } from './authenticate.ts';
import {
  AccountParams,
  AccountSchema,
  AmountBody,
  OpenAccountBody,
  problems,
  TransactionPageSchema,
  TransactionsQuery,
  WithdrawalSchema,
} from './schemas.ts';

export function registerAccountRoutes(app: HttpApp, deps: AccountDeps, idempotency: IdempotencyStore): void {
  app.post(
    '/api/v1/accounts',
    {
      schema: {
        body: OpenAccountBody,
        response: { 201: AccountSchema, ...problems(400, 401, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const userUuid = userOf(request);
      const alias = checkAlias(request.body?.alias);
      // The operation id names the opening at the core: a retry (ours or the
      // client's with its Idempotency-Key) gets the account, not a second one.
      return idempotency.handle(request, reply, userUuid, async (operationId) => ({
        statusCode: 201,
        body: await openAccount(deps, { userUuid, alias, openKey: operationId }, request.id),
      }));
    },
  );

  app.get(
    '/api/v1/accounts',
    {
      schema: { response: { 200: Type.Object({ items: Type.Array(AccountSchema) }), ...problems(401, 503) } },
    },
    async (request) => ({ items: await listAccounts(deps, userOf(request), request.id) }),
  );

  app.get(
    '/api/v1/accounts/:accountNo',
    { schema: { params: AccountParams, response: { 200: AccountSchema, ...problems(401, 404, 503) } } },
    async (request) => getAccount(deps, userOf(request), request.params.accountNo, request.id),
  );

  app.get(
    '/api/v1/accounts/:accountNo/transactions',
    {
      schema: {
        params: AccountParams,
        querystring: TransactionsQuery,
        response: { 200: TransactionPageSchema, ...problems(400, 401, 404, 503) },
      },
    },
    async (request) =>
      listTransactions(
        deps,
        userOf(request),
        request.params.accountNo,
        { limit: request.query.limit, cursor: request.query.cursor },
        request.id,
      ),
  );

  app.post(
    '/api/v1/accounts/:accountNo/withdrawals',
    {
      schema: {
        params: AccountParams,
        body: AmountBody,
        response: { 200: WithdrawalSchema, ...problems(400, 401, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const userUuid = userOf(request);
      const amount = parseAmount(request.body.amount);
      const idempotencyKey = readIdempotencyKey(request);
      // The core keeps every withdrawal's answer under the client's key and
      // replays it; here the key is only bound to this request (one write),
      // so a reuse on another route or with another body is still a 422.
      return idempotency.handleDelegated(request, reply, userUuid, async (repeat) => {
        const withdrawal = await withdraw(
          deps,
          { userUuid, accountNo: request.params.accountNo, amount, idempotencyKey },
          request.id,
          (afterLostAttempt) => markDelegatedReplay(reply, repeat, afterLostAttempt),
        );
        return { statusCode: 200, body: withdrawal };
      });
    },
  );
}
