import { type Kysely, sql } from 'kysely';
import type { AttemptReservation, LoginStore, Profile } from '../domain/auth.ts';
import type { ServiceDb } from './database.ts';

const uniqueViolation = '23505';

export function createLoginStore(db: Kysely<ServiceDb>): LoginStore {
  return {
    async hasLogin(userUuid) {
      const row = await db
        .selectFrom('logins')
        .select('user_uuid')
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      return row !== undefined;
    },

    async insertLogin(login) {
      try {
        await db
          .insertInto('logins')
          .values({
            user_uuid: login.userUuid,
            login_id: login.loginId,
            password_hash: login.passwordHash,
            masked_name: login.maskedName,
            masked_rrn: login.maskedRrn,
            masked_phone: login.maskedPhone,
            locked_until: null,
          })
          .execute();
        return 'created';
      } catch (error) {
        const { code, constraint } = error as { code?: string; constraint?: string };
        if (code !== uniqueViolation) throw error;
        return constraint === 'logins_login_id_key' ? 'loginIdTaken' : 'userHasLogin';
      }
    },

    async findProfile(userUuid): Promise<Profile | undefined> {
      const row = await db
        .selectFrom('logins')
        .select(['user_uuid', 'login_id', 'masked_name', 'masked_rrn', 'masked_phone'])
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        userUuid: row.user_uuid,
        loginId: row.login_id,
        maskedName: row.masked_name,
        maskedRrn: row.masked_rrn,
        maskedPhone: row.masked_phone,
      };
    },

    async reserveAttempt(loginId, failuresMax, lockMs): Promise<AttemptReservation> {
      // An expired lock restarts the count. SET reads the row as locked by
      // this UPDATE (PostgreSQL re-reads it after waiting for a racing
      // attempt), so concurrent failures never lose an increment.
      const reserved = await sql<{ user_uuid: string; password_hash: string }>`
        update logins set
          failed_attempts = case when locked_until <= now() then 1 else failed_attempts + 1 end,
          locked_until = case
            when (case when locked_until <= now() then 1 else failed_attempts + 1 end) >= ${failuresMax}::integer
            then now() + ${lockMs}::integer * interval '1 millisecond'
            else null end
        where login_id = ${loginId} and (locked_until is null or locked_until <= now())
        returning user_uuid, password_hash`.execute(db);
      const row = reserved.rows[0];
      if (row !== undefined)
        return { kind: 'reserved', userUuid: row.user_uuid, passwordHash: row.password_hash };
      const exists = await db
        .selectFrom('logins')
        .select('user_uuid')
        .where('login_id', '=', loginId)
        .executeTakeFirst();
      return exists === undefined ? { kind: 'unknown' } : { kind: 'locked' };
    },

    async clearFailures(userUuid) {
      await db
        .updateTable('logins')
        .set({ failed_attempts: 0, locked_until: null })
        .where('user_uuid', '=', userUuid)
        .execute();
    },
  };
}
