import type { Identity } from '@nuri/contracts/identity';
import type { RegisteredUser, UserRegistry } from '../domain/auth.ts';
import { type CoreClient, problemFrom } from './core-client.ts';

/** core-user's real-name registry over its internal REST API. */
export function createUserRegistry(core: CoreClient): UserRegistry {
  return {
    async register(identity: Identity, requestId: string): Promise<RegisteredUser> {
      // No retries: registration is idempotent per RRN at the core, but a
      // signup that failed fast is cheaper for everyone than one that waits
      // out several timeouts; the client may retry (API.md: safe to retry).
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
      const user = response.body as RegisteredUser;
      return {
        userUuid: user.userUuid,
        maskedName: user.maskedName,
        maskedRrn: user.maskedRrn,
        maskedPhone: user.maskedPhone ?? null,
      };
    },
  };
}
