import type { Migration } from '@nuri/platform/db';
import { idempotencyMigrations } from '@nuri/platform/idempotency';
import { inboxMigrations } from '@nuri/platform/kafka/inbox';
import { outboxMigrations } from '@nuri/platform/kafka/outbox';
import { sql } from 'kysely';

// 10^15 (API.md: a balance never exceeds it). The code refuses to pass it;
// the CHECK makes a bug that tries fail loudly instead of storing it.
const wallets: Migration = {
  up: async (db) => {
    await sql`create table point_wallets (
      user_uuid char(36) character set ascii collate ascii_bin primary key,
      balance decimal(20,0) not null default 0,
      updated_at datetime(3) not null default current_timestamp(3) on update current_timestamp(3),
      constraint point_wallets_balance_range check (balance >= 0 and balance <= 1000000000000000)
    ) engine = InnoDB`.execute(db);

    // Append-only history. UNIQUE(payment_id, type) makes "one USE and at most
    // one REFUND per payment" a database fact (NULL payment ids, the charges,
    // never collide).
    await sql`create table point_history (
      id char(36) character set ascii collate ascii_bin primary key,
      user_uuid char(36) character set ascii collate ascii_bin not null,
      type varchar(8) character set ascii not null,
      amount decimal(20,0) not null,
      balance_after decimal(20,0) not null,
      payment_id char(36) character set ascii collate ascii_bin null,
      created_at datetime(3) not null default current_timestamp(3),
      constraint point_history_type check (type in ('CHARGE', 'USE', 'REFUND')),
      constraint point_history_amount check (amount > 0),
      unique key point_history_payment_type (payment_id, type),
      key point_history_user (user_uuid, id)
    ) engine = InnoDB`.execute(db);

    // UNIQUE(user_uuid, order_id) is what answers DUPLICATE_ORDER, race or not.
    await sql`create table payments (
      payment_id char(36) character set ascii collate ascii_bin primary key,
      user_uuid char(36) character set ascii collate ascii_bin not null,
      order_id varchar(64) character set ascii collate ascii_bin not null,
      account_no char(14) character set ascii not null,
      cash_amount decimal(20,0) not null,
      point_amount decimal(20,0) not null,
      merchant varchar(100) null,
      status varchar(10) character set ascii not null,
      failure_code varchar(64) character set ascii null,
      attempts int not null,
      next_attempt_at datetime(3) null,
      stuck_at datetime(3) null,
      created_at datetime(3) not null,
      settled_at datetime(3) null,
      constraint payments_status check (status in ('PENDING', 'COMPLETED', 'FAILED')),
      constraint payments_amounts check (cash_amount >= 0 and point_amount >= 0 and cash_amount + point_amount > 0),
      unique key payments_user_order (user_uuid, order_id),
      key payments_status_next_attempt (status, next_attempt_at),
      key payments_status_created (status, created_at)
    ) engine = InnoDB`.execute(db);
  },
  down: async (db) => {
    await sql`drop table payments`.execute(db);
    await sql`drop table point_history`.execute(db);
    await sql`drop table point_wallets`.execute(db);
  },
};

/**
 * point's migrations, applied in key order by `nuri migrate` (and at start).
 * Keys are ordered names (`0001_…`); a migration once landed never changes.
 */
export const migrations: Record<string, Migration> = {
  ...outboxMigrations('mysql'),
  ...inboxMigrations('mysql'),
  ...idempotencyMigrations('mysql'),
  '0001_wallets_history_payments': wallets,
};
