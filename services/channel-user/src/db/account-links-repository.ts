import { createBoundedMap } from '@nuri/platform/bounded-map';
import type { Kysely } from 'kysely';
import type { AccountLinkStore } from '../domain/accounts.ts';
import type { ServiceDb } from './database.ts';

/** Links remembered per process; beyond this those not used longest are forgotten (and read again when needed). */
export const linkCacheSizeMax = 100_000;

export function createAccountLinkStore(db: Kysely<ServiceDb>): AccountLinkStore {
  // An account number is linked to one user for good (rows are only ever
  // inserted, never changed), so a link once seen can be trusted without the
  // database. Only positive answers are cached: a link may appear later.
  const knownOwners = createBoundedMap<string, string>(linkCacheSizeMax);
  function remember(accountNo: string, userUuid: string): void {
    knownOwners.set(accountNo, userUuid);
  }

  async function linkAll(accountNos: readonly string[], userUuid: string): Promise<void> {
    const unknown = accountNos.filter((accountNo) => !knownOwners.has(accountNo));
    if (unknown.length === 0) return;
    // An account number belongs to one user for good: a conflicting row is left as it is.
    await db
      .insertInto('account_links')
      .values(unknown.map((accountNo) => ({ account_no: accountNo, user_uuid: userUuid })))
      .onConflict((conflict) => conflict.column('account_no').doNothing())
      .execute();
  }
  return {
    link: (accountNo, userUuid) => linkAll([accountNo], userUuid),
    linkAll,
    async isLinked(accountNo, userUuid) {
      const owner = knownOwners.get(accountNo);
      if (owner !== undefined) return owner === userUuid;
      const row = await db
        .selectFrom('account_links')
        .select('user_uuid')
        .where('account_no', '=', accountNo)
        .executeTakeFirst();
      if (row === undefined) return false;
      remember(accountNo, row.user_uuid);
      return row.user_uuid === userUuid;
    },
  };
}
