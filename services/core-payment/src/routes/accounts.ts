import type { HttpApp } from '@nuri/platform/http';
import Type from 'typebox';
import {
  type AccountStore,
  getAccount,
  listAccounts,
  listTransactions,
  openAccount,
} from '../domain/accounts.ts';
import {
  AccountNo,
  AccountSchema,
  AliasInput,
  accountToJson,
  Cursor,
  IdempotencyKey,
  PageLimit,
  Problem,
  TransactionSchema,
  transactionToJson,
  UserUuid,
} from './schemas.ts';

export function registerAccountRoutes(app: HttpApp, accounts: AccountStore): void {
  app.post(
    '/internal/v1/accounts',
    {
      schema: {
        body: Type.Object({
          userUuid: UserUuid,
          alias: Type.Optional(AliasInput),
          // The caller's name for this opening, the same on its retries.
          openKey: Type.Optional(IdempotencyKey),
        }),
        response: {
          200: AccountSchema,
          201: AccountSchema,
          400: Problem,
          401: Problem,
          409: Problem,
          422: Problem,
        },
      },
    },
    async (request, reply) => {
      const { account, created } = await openAccount(accounts, request.body);
      // 200: a repeat of an opening already done (same open key), nothing new opened.
      return reply.code(created ? 201 : 200).send(accountToJson(account));
    },
  );

  app.get(
    '/internal/v1/accounts/:accountNo',
    {
      schema: {
        params: Type.Object({ accountNo: AccountNo }),
        querystring: Type.Object({ userUuid: Type.Optional(UserUuid) }),
        response: { 200: AccountSchema, 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request) =>
      accountToJson(await getAccount(accounts, request.params.accountNo, request.query.userUuid)),
  );

  app.get(
    '/internal/v1/users/:userUuid/accounts',
    {
      schema: {
        params: Type.Object({ userUuid: UserUuid }),
        response: { 200: Type.Object({ items: Type.Array(AccountSchema) }), 400: Problem, 401: Problem },
      },
    },
    async (request) => ({
      items: (await listAccounts(accounts, request.params.userUuid)).map(accountToJson),
    }),
  );

  app.get(
    '/internal/v1/accounts/:accountNo/transactions',
    {
      schema: {
        params: Type.Object({ accountNo: AccountNo }),
        querystring: Type.Object({
          limit: PageLimit,
          cursor: Type.Optional(Cursor),
          userUuid: Type.Optional(UserUuid),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(TransactionSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          400: Problem,
          401: Problem,
          404: Problem,
        },
      },
    },
    async (request) => {
      const page = await listTransactions(accounts, {
        accountNo: request.params.accountNo,
        userUuid: request.query.userUuid,
        limit: request.query.limit,
        cursor: request.query.cursor,
      });
      return { items: page.items.map(transactionToJson), nextCursor: page.nextCursor };
    },
  );
}
