import type { Migration } from '@nuri/platform/db';
import { sql } from 'kysely';

/**
 * core-user's migrations, applied in key order by `nuri migrate` (and at start).
 * Keys are ordered names (`0001_…`); a migration once landed never changes.
 */
export const migrations: Record<string, Migration> = {
  '0001_users': {
    async up(db) {
      // No plaintext PII column exists. The length checks catch a caller
      // that stores something other than an HMAC or an envelope by mistake
      // (an envelope is at least header + nonce + tag = 31 bytes).
      await sql`
        create table users (
          user_uuid uuid primary key,
          rrn_blind_index bytea not null,
          name_ciphertext bytea not null,
          rrn_ciphertext bytea not null,
          phone_ciphertext bytea,
          pii_key_id text not null,
          created_at timestamptz not null default now(),
          updated_at timestamptz not null default now(),
          constraint users_rrn_blind_index_key unique (rrn_blind_index),
          constraint users_rrn_blind_index_length check (octet_length(rrn_blind_index) = 32),
          constraint users_name_ciphertext_length check (octet_length(name_ciphertext) >= 31),
          constraint users_rrn_ciphertext_length check (octet_length(rrn_ciphertext) >= 31),
          constraint users_phone_ciphertext_length check (octet_length(phone_ciphertext) >= 31)
        )
      `.execute(db);
      await sql`create index users_pii_key_id_idx on users (pii_key_id, user_uuid)`.execute(db);
    },
    async down(db) {
      await sql`drop table users`.execute(db);
    },
  },
  // A registration is RESERVED until channel-user has created the login and
  // confirms it; a reservation expires, so a signup that fails after the
  // registry (a taken loginId, a crash) leaves no one holding the RRN. What
  // was checked of the name is kept (FORMAT_ONLY without a 실명확인 agency).
  // Registration attempts are counted per RRN blind index and hour.
  '0002_reservations': {
    async up(db) {
      await sql`alter table users
        add column status varchar(10) not null default 'CONFIRMED' check (status in ('RESERVED', 'CONFIRMED')),
        add column reserved_until timestamptz,
        add column verification varchar(16) not null default 'FORMAT_ONLY'`.execute(db);
      await sql`create index users_reserved_until_idx on users (reserved_until) where status = 'RESERVED'`.execute(
        db,
      );
      await sql`create table registration_attempts (
          rrn_blind_index bytea not null,
          window_start timestamptz not null,
          attempts integer not null,
          primary key (rrn_blind_index, window_start)
        )`.execute(db);
    },
    async down(db) {
      await sql`drop table registration_attempts`.execute(db);
      await sql`alter table users drop column status, drop column reserved_until, drop column verification`.execute(
        db,
      );
    },
  },
};
