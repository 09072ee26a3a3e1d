import type { HttpApp } from '@nuri/platform/http';
import {
  guardUnmatchedInternalPaths,
  type InternalCallers,
  type InternalRoutePolicy,
  requireInternalToken,
} from '@nuri/platform/internal-auth';
import { type ReconciliationDeps, reconcileCoupons } from '../domain/reconciliation.ts';
import { Problem, Reconciliation, reconciliationToJson } from './schemas.ts';

/**
 * Who may call what: the operator (`nuri reconcile`) and the gateway (the
 * operator console's reconciliation); no service calls coupon's internal routes.
 */
export const internalRoutePolicy: InternalRoutePolicy = {
  ops: ['GET /internal/v1/reconciliation'],
  gateway: ['GET /internal/v1/reconciliation'],
};

/**
 * Routes for other services and `nuri reconcile`, in their own encapsulated
 * scope: the internal token guards these and nothing else (user routes keep
 * their access token, admin routes the admin token).
 */
export function registerOperationRoutes(
  app: HttpApp,
  deps: { internalCallers: InternalCallers; reconciliation: ReconciliationDeps },
): void {
  guardUnmatchedInternalPaths(app, deps.internalCallers);
  app.register(async (internal) => {
    requireInternalToken(internal, { callers: deps.internalCallers, policy: internalRoutePolicy });
    internal.get(
      '/internal/v1/reconciliation',
      { schema: { response: { 200: Reconciliation, 401: Problem, 503: Problem } } },
      async () => reconciliationToJson(await reconcileCoupons(deps.reconciliation)),
    );
  });
}
