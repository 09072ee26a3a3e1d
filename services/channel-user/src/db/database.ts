import type { Database } from '@nuri/platform/db';
import type { IdempotencyDatabase } from '@nuri/platform/idempotency';
import type { InboxDatabase } from '@nuri/platform/kafka/inbox';
import type { OutboxDatabase } from '@nuri/platform/kafka/outbox';
import { openPostgres } from '@nuri/platform/service';
import type { Generated } from 'kysely';
import type { Config } from '../config.ts';

export interface LoginsTable {
  user_uuid: string;
  login_id: string;
  password_hash: string;
  // Masked copies from the core registry for /me; the plaintext never reaches the channel zone.
  masked_name: string;
  masked_rrn: string;
  masked_phone: string | null;
  /** False from the insert until core-user confirmed the registration (signUp). */
  registry_confirmed: Generated<boolean>;
  created_at: Generated<Date>;
}

/** Failed logins per (loginId, client); client '*' counts every client (domain/auth.ts). */
export interface LoginFailuresTable {
  login_id: string;
  client: string;
  failures: number;
  locked_until: Date | null;
  window_start: Generated<Date>;
  last_attempt_at: Generated<Date>;
}

export interface RefreshTokensTable {
  token_hash: Buffer;
  family_id: string;
  user_uuid: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
}

export interface AccountLinksTable {
  account_no: string;
  user_uuid: string;
  created_at: Generated<Date>;
}

export interface DepositsTable {
  deposit_id: string;
  account_no: string;
  user_uuid: string;
  amount: string;
  status: 'PENDING' | 'COMPLETED' | 'FAILED';
  balance_after: string | null;
  failure_code: string | null;
  requested_at: Date;
  settled_at: Date | null;
  /** How often its request was sent again because it stayed PENDING (deposit-resender.ts). */
  resends: Generated<number>;
  next_resend_at: Date | null;
}

export interface RecipientLookupsTable {
  user_uuid: string;
  window_start: Date;
  lookups: number;
}

/** The tables of channel-user's own database. */
export interface ServiceDb extends OutboxDatabase, InboxDatabase, IdempotencyDatabase {
  logins: LoginsTable;
  login_failures: LoginFailuresTable;
  refresh_tokens: RefreshTokensTable;
  account_links: AccountLinksTable;
  deposits: DepositsTable;
  recipient_lookups: RecipientLookupsTable;
}

export function openDatabase(config: Config): Database<ServiceDb> {
  return openPostgres(config, config.NURI_CHANNEL_DB, 'channel-user');
}
