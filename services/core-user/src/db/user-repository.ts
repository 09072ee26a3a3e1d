import { type Kysely, sql } from 'kysely';
import type { StoredUser, UserRepository } from '../domain/users.ts';
import type { ServiceDb } from './database.ts';

const userColumns = [
  'user_uuid',
  'rrn_blind_index',
  'name_ciphertext',
  'rrn_ciphertext',
  'phone_ciphertext',
  'pii_key_id',
  'status',
  'reserved_until',
  'verification',
] as const;

type UserRow = {
  user_uuid: string;
  rrn_blind_index: Buffer;
  name_ciphertext: Buffer;
  rrn_ciphertext: Buffer;
  phone_ciphertext: Buffer | null;
  pii_key_id: string;
  status: 'RESERVED' | 'CONFIRMED';
  reserved_until: Date | null;
  verification: string;
};

export function createUserRepository(db: Kysely<ServiceDb>): UserRepository {
  return {
    async replaceReservation(previous, next) {
      return db.transaction().execute(async (trx) => {
        const removed = await trx
          .deleteFrom('users')
          .where('user_uuid', '=', previous.userUuid)
          .where('status', '=', 'RESERVED')
          .where('name_ciphertext', '=', previous.nameCiphertext)
          .executeTakeFirst();
        if (removed.numDeletedRows !== 1n) return false;
        await trx.insertInto('users').values(toRow(next)).execute();
        return true;
      });
    },

    async renewReservation(userUuid, reservedUntil) {
      const result = await db
        .updateTable('users')
        .set({ reserved_until: reservedUntil, updated_at: new Date() })
        .where('user_uuid', '=', userUuid)
        .where('status', '=', 'RESERVED')
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async confirm(userUuid) {
      const result = await db
        .updateTable('users')
        .set({ status: 'CONFIRMED', reserved_until: null, updated_at: new Date() })
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async release(userUuid) {
      await db
        .deleteFrom('users')
        .where('user_uuid', '=', userUuid)
        .where('status', '=', 'RESERVED')
        .execute();
    },

    async countAttempt(rrnBlindIndex, windowStart) {
      const row = await sql<{ attempts: number }>`
        insert into registration_attempts (rrn_blind_index, window_start, attempts)
        values (${rrnBlindIndex}, ${windowStart}, 1)
        on conflict (rrn_blind_index, window_start) do update set attempts = registration_attempts.attempts + 1
        returning attempts`.execute(db);
      return row.rows[0]?.attempts ?? 1;
    },

    async purgeExpired(before) {
      const reservations = await db
        .deleteFrom('users')
        .where('status', '=', 'RESERVED')
        .where('reserved_until', '<', before)
        .executeTakeFirst();
      const attempts = await db
        .deleteFrom('registration_attempts')
        .where('window_start', '<', before)
        .executeTakeFirst();
      return Number(reservations.numDeletedRows) + Number(attempts.numDeletedRows);
    },

    async insertUnlessRrnRegistered(user) {
      // ON CONFLICT waits for a concurrent insert of the same blind index to
      // commit and then does nothing, so of two racing registrations exactly
      // one inserts; the other sees no row returned and re-reads the winner.
      const inserted = await db
        .insertInto('users')
        .values(toRow(user))
        .onConflict((conflict) => conflict.column('rrn_blind_index').doNothing())
        .returning('user_uuid')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async findByRrnBlindIndex(rrnBlindIndex) {
      const row = await db
        .selectFrom('users')
        .select(userColumns)
        .where('rrn_blind_index', '=', rrnBlindIndex)
        .executeTakeFirst();
      return row === undefined ? undefined : fromRow(row);
    },

    async findByUserUuid(userUuid) {
      const row = await db
        .selectFrom('users')
        .select(userColumns)
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      return row === undefined ? undefined : fromRow(row);
    },

    async listNotUnderKey(keyId, afterUserUuid, limit) {
      let query = db
        .selectFrom('users')
        .select(userColumns)
        .where('pii_key_id', '<>', keyId)
        .orderBy('user_uuid')
        .limit(limit);
      if (afterUserUuid !== null) query = query.where('user_uuid', '>', afterUserUuid);
      const rows = await query.execute();
      return rows.map(fromRow);
    },

    async replaceCiphertexts(previous, next) {
      // Optimistic check: the row is rewritten only if it still holds exactly
      // what was decrypted, so a concurrent re-encryption (or any later
      // change) is never overwritten with stale values. One statement, so the
      // row is locked only for as long as the update itself.
      const result = await db
        .updateTable('users')
        .set({
          name_ciphertext: next.nameCiphertext,
          rrn_ciphertext: next.rrnCiphertext,
          phone_ciphertext: next.phoneCiphertext,
          pii_key_id: next.piiKeyId,
          updated_at: new Date(),
        })
        .where('user_uuid', '=', previous.userUuid)
        .where('pii_key_id', '=', previous.piiKeyId)
        .where('name_ciphertext', '=', previous.nameCiphertext)
        .where('rrn_ciphertext', '=', previous.rrnCiphertext)
        .where((eb) =>
          previous.phoneCiphertext === null
            ? eb('phone_ciphertext', 'is', null)
            : eb('phone_ciphertext', '=', previous.phoneCiphertext),
        )
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },
  };
}

function toRow(user: StoredUser): UserRow {
  return {
    user_uuid: user.userUuid,
    rrn_blind_index: user.rrnBlindIndex,
    name_ciphertext: user.nameCiphertext,
    rrn_ciphertext: user.rrnCiphertext,
    phone_ciphertext: user.phoneCiphertext,
    pii_key_id: user.piiKeyId,
    status: user.status,
    reserved_until: user.reservedUntil,
    verification: user.verification,
  };
}

function fromRow(row: UserRow): StoredUser {
  return {
    userUuid: row.user_uuid,
    rrnBlindIndex: row.rrn_blind_index,
    nameCiphertext: row.name_ciphertext,
    rrnCiphertext: row.rrn_ciphertext,
    phoneCiphertext: row.phone_ciphertext,
    piiKeyId: row.pii_key_id,
    status: row.status,
    reservedUntil: row.reserved_until,
    verification: row.verification === 'AGENCY' ? 'AGENCY' : 'FORMAT_ONLY',
  };
}
