import type { HttpApp } from '@nuri/platform/http';
import { requireInternalToken } from '@nuri/platform/internal-auth';
import { type ReconciliationDeps, reconcileCoupons } from '../domain/reconciliation.ts';
import { Problem, Reconciliation, reconciliationToJson } from './schemas.ts';

/**
 * Routes for other services and `nuri reconcile`, in their own encapsulated
 * scope: the internal token guards these and nothing else (user routes keep
 * their access token, admin routes the admin token).
 */
export function registerOperationRoutes(
  app: HttpApp,
  deps: { internalToken: string; reconciliation: ReconciliationDeps },
): void {
  app.register(async (internal) => {
    requireInternalToken(internal, { token: deps.internalToken });
    internal.get(
      '/internal/v1/reconciliation',
      { schema: { response: { 200: Reconciliation, 401: Problem, 503: Problem } } },
      async () => reconciliationToJson(await reconcileCoupons(deps.reconciliation)),
    );
  });
}
