import type { Identity } from '@nuri/contracts/identity';
import type { RegisteredUser, UserRegistry } from '../domain/auth.ts';
import { type CoreClient, problemFrom } from './core-client.ts';

/** Confirming and releasing are idempotent at core-user: repeating them is safe. */
const confirmRetriesMax = 2;

/** core-user's real-name registry over its internal REST API. */
export function createUserRegistry(core: CoreClient): UserRegistry {
  return {
    async register(identity: Identity, requestId: string) {
      // No retries: registration is idempotent per RRN at the core, but a
      // signup that failed fast is cheaper for everyone than one that waits
      // out several timeouts; the client may retry (docs/api.md: safe to retry).
      const response = await core.request({
        method: 'POST',
        path: '/internal/v1/users',
        body: {
          name: identity.name,
          rrn: identity.rrn,
          ...(identity.phone === null ? {} : { phone: identity.phone }),
        },
        requestId,
      });
      if (response.status !== 200 && response.status !== 201) throw problemFrom(response);
      const user = response.body as RegisteredUser & { status?: unknown };
      return {
        userUuid: user.userUuid,
        maskedName: user.maskedName,
        maskedRrn: user.maskedRrn,
        maskedPhone: user.maskedPhone ?? null,
        status: user.status === 'CONFIRMED' ? ('CONFIRMED' as const) : ('RESERVED' as const),
      };
    },

    async confirm(userUuid: string, requestId: string) {
      const response = await core.request({
        method: 'POST',
        path: `/internal/v1/users/${encodeURIComponent(userUuid)}/confirm`,
        requestId,
        retriesMax: confirmRetriesMax,
      });
      if (response.status !== 204) throw problemFrom(response);
    },

    async maskedNameOf(userUuid: string, requestId: string) {
      const response = await core.request({
        method: 'GET',
        path: `/internal/v1/users/${encodeURIComponent(userUuid)}`,
        requestId,
        retriesMax: 1,
      });
      if (response.status === 404) return undefined;
      if (response.status !== 200) throw problemFrom(response);
      const body = response.body as { maskedName?: unknown };
      return typeof body.maskedName === 'string' ? body.maskedName : undefined;
    },

    async release(userUuid: string, requestId: string) {
      const response = await core.request({
        method: 'DELETE',
        path: `/internal/v1/users/${encodeURIComponent(userUuid)}/reservation`,
        requestId,
        retriesMax: confirmRetriesMax,
      });
      if (response.status !== 204) throw problemFrom(response);
    },
  };
}
