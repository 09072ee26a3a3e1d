import { inTransaction } from '@nuri/platform/db';
import { parseDbAmount } from '@nuri/platform/money';
import type { Kysely } from 'kysely';
import type { WalletStore } from '../domain/points.ts';
import type { ServiceDb } from './database.ts';
import { isDuplicateKey, retryOnLockConflict } from './mysql-errors.ts';
import { creditCharge } from './wallet-ledger.ts';

export function createWalletStore(db: Kysely<ServiceDb>): WalletStore {
  const store: WalletStore = {
    async balanceOf(userUuid) {
      const row = await db
        .selectFrom('point_wallets')
        .select('balance')
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      return row === undefined ? 0n : parseDbAmount(row.balance);
    },

    async charge(userUuid, amount, chargeId) {
      try {
        return await retryOnLockConflict(() =>
          // READ COMMITTED: the cap's read of the payments holding points must see every
          // deduction committed before this charge took the wallet lock (wallet-ledger.ts).
          inTransaction(db, (trx) => creditCharge(trx, userUuid, amount, chargeId), {
            isolationLevel: 'read committed',
          }),
        );
      } catch (error) {
        // This charge was already applied (a retry after a lost answer): nothing more to do.
        if (isDuplicateKey(error, 'point_history_charge')) return store.balanceOf(userUuid);
        throw error;
      }
    },

    async history(userUuid, limit, before) {
      let query = db
        .selectFrom('point_history')
        .select(['id', 'seq', 'type', 'amount', 'balance_after', 'payment_id', 'created_at'])
        .where('user_uuid', '=', userUuid)
        .orderBy('seq', 'desc')
        .limit(limit);
      if (before !== undefined && 'seq' in before) query = query.where('seq', '<', before.seq.toString());
      if (before !== undefined && 'id' in before) {
        // An older cursor names the last row it listed; a row of someone else's names nothing.
        query = query.where('seq', '<', (sub) =>
          sub
            .selectFrom('point_history as named')
            .select('named.seq')
            .where('named.id', '=', before.id)
            .where('named.user_uuid', '=', userUuid),
        );
      }
      const rows = await query.execute();
      return rows.map((row) => ({
        id: row.id,
        seq: BigInt(row.seq),
        type: row.type,
        amount: parseDbAmount(row.amount),
        balanceAfter: parseDbAmount(row.balance_after),
        paymentId: row.payment_id,
        createdAt: row.created_at,
      }));
    },
  };
  return store;
}
