import type { Migration } from '@nuri/platform/db';
import { inboxMigrations } from '@nuri/platform/kafka/inbox';
import { outboxMigrations } from '@nuri/platform/kafka/outbox';
import { sql } from 'kysely';

// 10^15 won (API.md): the largest balance an account may hold. The domain
// refuses to go past it; the CHECK makes a bug that tries fail loudly.
const ledger: Migration = {
  up: async (db) => {
    await sql`create table accounts (
      account_no varchar(14) primary key check (account_no ~ '^[0-9]{3}-[0-9]{3}-[0-9]{6}$'),
      user_uuid uuid not null,
      alias varchar(30) null,
      balance numeric(20,0) not null default 0
        constraint accounts_balance_range check (balance >= 0 and balance <= 1000000000000000),
      currency char(3) not null default 'KRW',
      status varchar(8) not null default 'ACTIVE' check (status in ('ACTIVE', 'CLOSED')),
      opened_at timestamptz not null default now(),
      closed_at timestamptz null
    )`.execute(db);
    await sql`create index accounts_user on accounts (user_uuid, opened_at)`.execute(db);

    // One row per business movement; UNIQUE(type, reference) makes "applied at
    // most once" a database fact whatever the code above it does.
    await sql`create table ledger_transactions (
      id uuid primary key,
      type varchar(16) not null check (type in ('DEPOSIT', 'WITHDRAWAL', 'PAYMENT')),
      reference varchar(64) not null,
      account_no varchar(14) not null references accounts (account_no),
      amount numeric(20,0) not null check (amount > 0),
      created_at timestamptz not null default now(),
      constraint ledger_transactions_type_reference unique (type, reference)
    )`.execute(db);

    // Two legs per transaction: the customer account and an internal contra
    // account (INTERNAL:*). Internal accounts have no balance row: their
    // balance is the sum of their legs, so they are never a hot row.
    await sql`create table ledger_entries (
      id uuid primary key,
      transaction_id uuid not null references ledger_transactions (id),
      account_no varchar(40) not null,
      side varchar(6) not null check (side in ('DEBIT', 'CREDIT')),
      type varchar(16) not null,
      amount numeric(20,0) not null check (amount > 0),
      balance_after numeric(20,0) null,
      reference varchar(64) not null,
      created_at timestamptz not null default now()
    )`.execute(db);
    // The only lookup path: an account's history, newest first. Legs are found
    // by transaction only in reconciliation, which scans anyway; another index
    // would tax every insert for nothing.
    await sql`create index ledger_entries_account on ledger_entries (account_no, id)`.execute(db);

    // The ledger is history: a correction is a new transaction, never an edit.
    await sql`create function ledger_refuse_change() returns trigger language plpgsql as $$
      begin
        raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'restrict_violation';
      end
    $$`.execute(db);
    for (const table of ['ledger_entries', 'ledger_transactions']) {
      await sql`create trigger ${sql.raw(`${table}_append_only`)} before update or delete on ${sql.table(table)}
        for each row execute function ledger_refuse_change()`.execute(db);
      await sql`create trigger ${sql.raw(`${table}_no_truncate`)} before truncate on ${sql.table(table)}
        for each statement execute function ledger_refuse_change()`.execute(db);
    }

    // Idempotency per (user, key): the unique key, not a read, settles races.
    // A rejection for lack of funds is stored too, so a replay gets the same answer.
    await sql`create table withdrawals (
      user_uuid uuid not null,
      idempotency_key varchar(64) not null,
      withdrawal_id uuid not null,
      account_no varchar(14) not null,
      amount numeric(20,0) not null check (amount > 0),
      status varchar(10) not null check (status in ('SUCCEEDED', 'REJECTED')),
      failure_code varchar(64) null,
      balance_after numeric(20,0) null,
      created_at timestamptz not null default now(),
      constraint withdrawals_user_key primary key (user_uuid, idempotency_key)
    )`.execute(db);

    // The outcome of every deposit request (COMPLETED or FAILED), so a request
    // re-sent under a new event id is answered the same way and never applied twice.
    await sql`create table deposits (
      deposit_id uuid primary key,
      account_no varchar(14) not null,
      user_uuid uuid not null,
      amount numeric(20,0) not null,
      status varchar(10) not null check (status in ('COMPLETED', 'FAILED')),
      failure_code varchar(64) null,
      balance_after numeric(20,0) null,
      settled_at timestamptz not null default now()
    )`.execute(db);

    // The cash step of each composite payment, keyed by payment id: the saga's
    // re-sent requests are answered from here and never debit again.
    await sql`create table payments (
      payment_id uuid primary key,
      user_uuid uuid not null,
      account_no varchar(14) not null,
      amount numeric(20,0) not null,
      order_id varchar(64) not null,
      status varchar(10) not null check (status in ('SUCCEEDED', 'FAILED')),
      failure_code varchar(64) null,
      balance_after numeric(20,0) null,
      settled_at timestamptz not null default now()
    )`.execute(db);

    await sql`create table issued_coupons (
      coupon_id uuid primary key,
      campaign_id uuid not null,
      user_uuid uuid not null,
      code varchar(64) not null,
      issued_at timestamptz not null,
      recorded_at timestamptz not null default now(),
      constraint issued_coupons_campaign_user unique (campaign_id, user_uuid)
    )`.execute(db);
  },
};

// The withdrawal as one statement (see withdrawals-repository.ts) inside a
// PL/pgSQL function. Why a function: pg and Kysely send unnamed statements,
// which PostgreSQL parses and plans on every call, and for this six-part
// statement planning cost as much as executing it. PL/pgSQL keeps the plan
// per connection. The rules stay in the one statement; the function adds none.
const withdrawFunction: Migration = {
  up: async (db) => {
    await sql`create function withdraw_once(
        p_withdrawal_id uuid, p_transaction_id uuid, p_customer_entry_id uuid, p_contra_entry_id uuid,
        p_user_uuid uuid, p_idempotency_key varchar, p_account_no varchar, p_amount numeric,
        p_contra_account varchar)
      returns table (out_balance_after numeric, out_replay boolean, out_owner uuid, out_account_status varchar)
      language plpgsql as $$
      begin
        return query
        with account as (
          select a.user_uuid, a.status from accounts a where a.account_no = p_account_no
        ), already as (
          select 1 from withdrawals w where w.user_uuid = p_user_uuid and w.idempotency_key = p_idempotency_key
        ), debit as (
          update accounts a set balance = a.balance - p_amount
          where a.account_no = p_account_no and a.user_uuid = p_user_uuid and a.status = 'ACTIVE'
            and a.balance >= p_amount and not exists (select 1 from already)
          returning a.balance
        ), movement as (
          insert into ledger_transactions (id, type, reference, account_no, amount)
          select p_transaction_id, 'WITHDRAWAL', p_withdrawal_id::text, p_account_no, p_amount from debit
          returning id
        ), legs as (
          insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference)
          select leg.id, movement.id, leg.account_no, leg.side, 'WITHDRAWAL', p_amount,
                 case when leg.customer then debit.balance end, p_withdrawal_id::text
          from movement cross join debit cross join (values
            (p_customer_entry_id, p_account_no, 'DEBIT', true),
            (p_contra_entry_id, p_contra_account, 'CREDIT', false)
          ) as leg(id, account_no, side, customer)
        ), claim as (
          insert into withdrawals (user_uuid, idempotency_key, withdrawal_id, account_no, amount, status,
                                   failure_code, balance_after)
          select p_user_uuid, p_idempotency_key, p_withdrawal_id, p_account_no, p_amount,
                 case when debit.balance is null then 'REJECTED' else 'SUCCEEDED' end,
                 case when debit.balance is null then 'INSUFFICIENT_BALANCE' end,
                 debit.balance
          from account left join debit on true
          where not exists (select 1 from already)
            and (debit.balance is not null or (account.user_uuid = p_user_uuid and account.status = 'ACTIVE'))
        )
        select (select debit.balance from debit),
               exists (select 1 from already),
               (select account.user_uuid from account),
               (select account.status from account);
      end
    $$`.execute(db);
  },
};

/**
 * core-payment's migrations, applied in key order by `nuri migrate` (and at start).
 * Keys are ordered names (`0001_…`); a migration once landed never changes.
 */
export const migrations: Record<string, Migration> = {
  ...outboxMigrations('postgres'),
  ...inboxMigrations('postgres'),
  '0001_ledger': ledger,
  '0002_withdraw_function': withdrawFunction,
};
