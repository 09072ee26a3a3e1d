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
            registry_confirmed: false,
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

    async reserveAttempt(loginId, client, policy): Promise<AttemptReservation> {
      // A client locked out already is answered so without touching the shared
      // count: otherwise a stranger who locked themselves out could keep taking
      // the one attempt per spacing that the owner needs.
      const locked = await sql`select 1 from login_failures
        where login_id = ${loginId} and client = ${client} and locked_until > now()`.execute(db);
      if (locked.rows.length > 0) return { kind: 'locked' };
      // Every client together first: past `acrossClientsMax` attempts in the
      // window, one attempt per spacing is let through and the others wait.
      const across = await sql<{ failures: number }>`
        insert into login_failures as f (login_id, client, failures, locked_until, window_start, last_attempt_at)
        values (${loginId}, '*', 1, null, now(), now())
        on conflict (login_id, client) do update set
          failures = case when f.window_start < now() - ${policy.windowMs}::integer * interval '1 millisecond'
            then 1 else f.failures + 1 end,
          window_start = case when f.window_start < now() - ${policy.windowMs}::integer * interval '1 millisecond'
            then now() else f.window_start end,
          last_attempt_at = now()
        where f.window_start < now() - ${policy.windowMs}::integer * interval '1 millisecond'
          or f.failures < ${policy.acrossClientsMax}::integer
          or f.last_attempt_at <= now() - ${policy.spacingMs}::integer * interval '1 millisecond'
        returning failures`.execute(db);
      if (across.rows.length === 0) {
        return { kind: 'throttled', retryAfterSeconds: Math.ceil(policy.spacingMs / 1_000) };
      }
      // Then this client: its consecutive failures (reset by a lock's end or
      // a quiet window) reach the limit → locked until the lock ends.
      const fresh = sql`(f.locked_until <= now() or f.last_attempt_at < now() - ${policy.lockMs}::integer * interval '1 millisecond')`;
      const mine = await sql<{ failures: number }>`
        insert into login_failures as f (login_id, client, failures, locked_until, window_start, last_attempt_at)
        values (${loginId}, ${client}, 1, null, now(), now())
        on conflict (login_id, client) do update set
          failures = case when ${fresh} then 1 else f.failures + 1 end,
          locked_until = case when (case when ${fresh} then 1 else f.failures + 1 end) >= ${policy.failuresMax}::integer
            then now() + ${policy.lockMs}::integer * interval '1 millisecond' else null end,
          last_attempt_at = now()
        where f.locked_until is null or f.locked_until <= now()
        returning failures`.execute(db);
      return mine.rows.length === 0 ? { kind: 'locked' } : { kind: 'allowed' };
    },

    async clearFailures(loginId, client) {
      await db
        .deleteFrom('login_failures')
        .where('login_id', '=', loginId)
        .where('client', '=', client)
        .execute();
      // The attempt was counted across clients before the password was known;
      // a success gives it back, so the owner logging in often is never throttled.
      await sql`update login_failures set failures = greatest(failures - 1, 0)
        where login_id = ${loginId} and client = '*'`.execute(db);
    },

    async maskedNamesOf(userUuids) {
      const names = new Map<string, string>();
      if (userUuids.length === 0) return names;
      const rows = await db
        .selectFrom('logins')
        .select(['user_uuid', 'masked_name'])
        .where('user_uuid', 'in', [...new Set(userUuids)])
        .execute();
      for (const row of rows) names.set(row.user_uuid, row.masked_name);
      return names;
    },

    async findCredentials(loginId) {
      const row = await db
        .selectFrom('logins')
        .select(['user_uuid', 'password_hash'])
        .where('login_id', '=', loginId)
        .executeTakeFirst();
      return row === undefined ? undefined : { userUuid: row.user_uuid, passwordHash: row.password_hash };
    },

    async loginIdTaken(loginId) {
      const row = await db
        .selectFrom('logins')
        .select('user_uuid')
        .where('login_id', '=', loginId)
        .executeTakeFirst();
      return row !== undefined;
    },

    async markRegistryConfirmed(userUuid) {
      await db
        .updateTable('logins')
        .set({ registry_confirmed: true })
        .where('user_uuid', '=', userUuid)
        .execute();
    },

    async deleteUnconfirmedLogin(userUuid) {
      await db
        .deleteFrom('logins')
        .where('user_uuid', '=', userUuid)
        .where('registry_confirmed', '=', false)
        .execute();
    },

    async unconfirmedLogins(createdBefore, limit) {
      const rows = await db
        .selectFrom('logins')
        .select('user_uuid')
        .where('registry_confirmed', '=', false)
        .where('created_at', '<', createdBefore)
        .orderBy('created_at')
        .limit(limit)
        .execute();
      return rows.map((row) => row.user_uuid);
    },
  };
}
