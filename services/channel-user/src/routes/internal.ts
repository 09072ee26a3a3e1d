import { OutboxBacklogSchema } from '@nuri/contracts/operations';
import { DepositTotalsQuerySchema, DepositTotalsSchema } from '@nuri/contracts/reconciliation';
import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import { readOutboxBacklog } from '@nuri/platform/kafka/outbox';
import type { Kysely } from 'kysely';
import type { ServiceDb } from '../db/database.ts';
import { depositTotals } from '../db/deposits-repository.ts';
import type { AccountLinkStore } from '../domain/accounts.ts';
import { requireOwnAccount } from '../domain/accounts.ts';
import { AccountLinkQuery, AccountLinkSchema, AccountParams, problems } from './schemas.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * For the point service: is this account linked to this user? For `nuri
 * reconcile` and the gateway: the deposits of an id range, and the outbox. (Callers' tokens checked by guardRoutes.)
 */
export function registerInternalRoutes(app: HttpApp, links: AccountLinkStore, db: Kysely<ServiceDb>): void {
  // What the outbox holds back, for the operator console (through the gateway).
  app.get(
    '/internal/v1/ops/outbox',
    { schema: { response: { 200: OutboxBacklogSchema, ...problems(401, 403) } } },
    async () => readOutboxBacklog(db),
  );

  app.get(
    '/internal/v1/deposit-totals',
    {
      schema: {
        querystring: DepositTotalsQuerySchema,
        response: { 200: DepositTotalsSchema, ...problems(400, 401, 403) },
      },
    },
    async (request) =>
      depositTotals(db, {
        from: request.query.from,
        to: request.query.to,
        detail: request.query.detail === true,
      }),
  );

  app.get(
    '/internal/v1/account-links/:accountNo',
    {
      schema: {
        params: AccountParams,
        querystring: AccountLinkQuery,
        response: { 200: AccountLinkSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { accountNo } = request.params;
      const userUuid = request.query.userUuid.toLowerCase();
      if (!uuidPattern.test(userUuid)) throw new AppError('ACCOUNT_NOT_FOUND', 404, 'No such account');
      await requireOwnAccount(links, accountNo, userUuid);
      return { accountNo, userUuid };
    },
  );
}
