import { type Kysely, sql } from 'kysely';
import type { RefreshTokenStore, RotationResult } from '../domain/auth.ts';
import type { ServiceDb } from './database.ts';

export function createRefreshTokenStore(db: Kysely<ServiceDb>): RefreshTokenStore {
  return {
    async insert(token) {
      await db
        .insertInto('refresh_tokens')
        .values({
          token_hash: token.tokenHash,
          family_id: token.familyId,
          user_uuid: token.userUuid,
          expires_at: token.expiresAt,
          used_at: null,
          revoked_at: null,
        })
        .execute();
    },

    rotate(oldHash, newHash, expiresAt): Promise<RotationResult> {
      return db.transaction().execute(async (trx) => {
        // Conditional update: of two racing refreshes with one token, exactly one wins.
        const used = await trx
          .updateTable('refresh_tokens')
          .set({ used_at: new Date() })
          .where('token_hash', '=', oldHash)
          .where('used_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', new Date())
          .returning(['family_id', 'user_uuid'])
          .executeTakeFirst();
        if (used !== undefined) {
          await trx
            .insertInto('refresh_tokens')
            .values({
              token_hash: newHash,
              family_id: used.family_id,
              user_uuid: used.user_uuid,
              expires_at: expiresAt,
              used_at: null,
              revoked_at: null,
            })
            .execute();
          return { kind: 'rotated', userUuid: used.user_uuid };
        }
        const known = await trx
          .selectFrom('refresh_tokens')
          .select(['family_id', 'used_at'])
          .where('token_hash', '=', oldHash)
          .executeTakeFirst();
        if (known === undefined || known.used_at === null) return { kind: 'invalid' };
        // A used token presented again means it was copied: whoever holds the
        // family's newest token may be the thief, so the whole family dies.
        await trx
          .updateTable('refresh_tokens')
          .set({ revoked_at: new Date() })
          .where('family_id', '=', known.family_id)
          .where('revoked_at', 'is', null)
          .execute();
        return { kind: 'reused' };
      });
    },

    async revokeFamily(tokenHash, userUuid) {
      let query = db.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', tokenHash);
      if (userUuid !== undefined) query = query.where('user_uuid', '=', userUuid);
      const token = await query.executeTakeFirst();
      if (token === undefined) return;
      await db
        .updateTable('refresh_tokens')
        .set({ revoked_at: new Date() })
        .where('family_id', '=', token.family_id)
        .where('revoked_at', 'is', null)
        .execute();
    },
  };
}

/** Deletes refresh tokens expired for a day or more (reuse detection needs them only while they could be presented). */
export async function purgeExpiredRefreshTokens(
  db: Kysely<ServiceDb>,
  batchSizeMax: number,
): Promise<number> {
  const cutoff = new Date(Date.now() - 86_400_000);
  const result = await sql`
    delete from refresh_tokens where token_hash in (
      select token_hash from refresh_tokens where expires_at < ${cutoff} limit ${batchSizeMax})`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
