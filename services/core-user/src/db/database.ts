import type { Database } from '@nuri/platform/db';
import { openPostgres } from '@nuri/platform/service';
import type { Generated } from 'kysely';
import type { Config } from '../config.ts';

/** One real-name customer. Every PII column holds a pii-cipher envelope, never plaintext. */
export interface UsersTable {
  user_uuid: string;
  /** HMAC-SHA-256 of the normalised RRN; unique, so one person is one row. */
  rrn_blind_index: Buffer;
  name_ciphertext: Buffer;
  rrn_ciphertext: Buffer;
  phone_ciphertext: Buffer | null;
  /** The key every ciphertext of the row is under; lets re-encryption find stale rows by index. */
  pii_key_id: string;
  /** RESERVED until channel-user confirms the login exists; a reservation past reserved_until may be replaced. */
  status: Generated<'RESERVED' | 'CONFIRMED'>;
  reserved_until: Date | null;
  /** What was checked of name + RRN: FORMAT_ONLY (no 실명확인 agency) or AGENCY. */
  verification: Generated<string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** Registration attempts per RRN blind index and hour (a throttle against name guessing). */
export interface RegistrationAttemptsTable {
  rrn_blind_index: Buffer;
  window_start: Date;
  attempts: number;
}

/** The tables of core-user's own database; grows with its migrations. */
export type ServiceDb = {
  users: UsersTable;
  registration_attempts: RegistrationAttemptsTable;
};

export function openDatabase(config: Config): Database<ServiceDb> {
  return openPostgres(config, config.NURI_CORE_USER_DB, 'core-user');
}
