import type { Migration } from '@nuri/platform/db';
import { idempotencyMigrations } from '@nuri/platform/idempotency';
import { inboxMigrations } from '@nuri/platform/kafka/inbox';
import { outboxMigrations } from '@nuri/platform/kafka/outbox';
import { sql } from 'kysely';

/**
 * channel-user's migrations, applied in key order by `nuri migrate` (and at start).
 * Keys are ordered names (`0001_…`); a migration once landed never changes.
 */
export const migrations: Record<string, Migration> = {
  ...outboxMigrations('postgres'),
  ...inboxMigrations('postgres'),
  ...idempotencyMigrations('postgres'),
  '0001_logins': {
    async up(db) {
      // One login per person (user_uuid) and per loginId; only masked PII is kept.
      await sql`
        create table logins (
          user_uuid uuid primary key,
          login_id varchar(20) not null,
          password_hash text not null,
          masked_name text not null,
          masked_rrn varchar(14) not null,
          masked_phone varchar(13),
          failed_attempts integer not null default 0 check (failed_attempts >= 0),
          locked_until timestamptz,
          created_at timestamptz not null default now(),
          constraint logins_login_id_key unique (login_id)
        )
      `.execute(db);
    },
    async down(db) {
      await sql`drop table logins`.execute(db);
    },
  },
  '0002_refresh_tokens': {
    async up(db) {
      await sql`
        create table refresh_tokens (
          token_hash bytea primary key check (octet_length(token_hash) = 32),
          family_id uuid not null,
          user_uuid uuid not null references logins (user_uuid),
          expires_at timestamptz not null,
          used_at timestamptz,
          revoked_at timestamptz,
          created_at timestamptz not null default now()
        )
      `.execute(db);
      await sql`create index refresh_tokens_family_idx on refresh_tokens (family_id)`.execute(db);
      await sql`create index refresh_tokens_expires_idx on refresh_tokens (expires_at)`.execute(db);
    },
    async down(db) {
      await sql`drop table refresh_tokens`.execute(db);
    },
  },
  '0003_account_links': {
    async up(db) {
      await sql`
        create table account_links (
          account_no char(14) primary key,
          user_uuid uuid not null,
          created_at timestamptz not null default now()
        )
      `.execute(db);
      await sql`create index account_links_user_idx on account_links (user_uuid)`.execute(db);
    },
    async down(db) {
      await sql`drop table account_links`.execute(db);
    },
  },
  '0004_deposits': {
    async up(db) {
      await sql`
        create table deposits (
          deposit_id uuid primary key,
          account_no char(14) not null references account_links (account_no),
          user_uuid uuid not null,
          amount numeric(20, 0) not null check (amount > 0),
          status varchar(9) not null check (status in ('PENDING', 'COMPLETED', 'FAILED')),
          balance_after numeric(20, 0),
          failure_code varchar(64),
          requested_at timestamptz not null,
          settled_at timestamptz
        )
      `.execute(db);
    },
    async down(db) {
      await sql`drop table deposits`.execute(db);
    },
  },
  // A deposit still PENDING long after its request is sent again (the same
  // deposit id under a new event id; the core answers a repeat with its
  // stored outcome): a request dead-lettered or lost on the way no longer
  // leaves the customer's 202 unkept. The partial index holds only the
  // pending few, so the scan stays cheap however many deposits there are.
  '0005_deposit_resends': {
    async up(db) {
      await sql`alter table deposits
        add column resends integer not null default 0,
        add column next_resend_at timestamptz`.execute(db);
      await sql`create index deposits_pending on deposits (requested_at) where status = 'PENDING'`.execute(
        db,
      );
    },
    async down(db) {
      await sql`drop index deposits_pending`.execute(db);
      await sql`alter table deposits drop column resends, drop column next_resend_at`.execute(db);
    },
  },
  // Signup: a login is written unconfirmed and marked once core-user has
  // confirmed its registration (a crash in between is finished by housekeeping).
  // Lockout: failures are counted per (loginId, client), so a stranger cannot
  // lock the owner out, and unknown loginIds are counted like known ones; the
  // row with client '*' counts every client, for a slower throttle per loginId.
  '0006_signup_confirmation_and_login_failures': {
    async up(db) {
      await sql`alter table logins add column registry_confirmed boolean not null default true`.execute(db);
      await sql`create index logins_unconfirmed on logins (created_at) where not registry_confirmed`.execute(
        db,
      );
      await sql`alter table logins drop column failed_attempts, drop column locked_until`.execute(db);
      await sql`create table login_failures (
          login_id varchar(20) not null,
          client varchar(64) not null,
          failures integer not null check (failures >= 0),
          locked_until timestamptz,
          window_start timestamptz not null default now(),
          last_attempt_at timestamptz not null default now(),
          primary key (login_id, client)
        )`.execute(db);
      await sql`create index login_failures_last_attempt on login_failures (last_attempt_at)`.execute(db);
    },
    async down(db) {
      await sql`drop table login_failures`.execute(db);
      await sql`alter table logins add column failed_attempts integer not null default 0,
        add column locked_until timestamptz, drop column registry_confirmed`.execute(db);
    },
  },
  // Recipient look-ups (받는 분 확인) counted per user per minute, shared by
  // every instance: one row per user who ever looked one up.
  '0007_recipient_lookups': {
    async up(db) {
      await sql`create table recipient_lookups (
          user_uuid uuid primary key,
          window_start timestamptz not null,
          lookups integer not null check (lookups >= 0)
        )`.execute(db);
    },
    async down(db) {
      await sql`drop table recipient_lookups`.execute(db);
    },
  },
};
