import type { Migration } from '@nuri/platform/db';
import { inboxMigrations } from '@nuri/platform/kafka/inbox';
import { outboxMigrations } from '@nuri/platform/kafka/outbox';
import { sql } from 'kysely';

// 10^15 won (docs/api.md): the largest balance an account may hold. The domain
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

// Group commit for withdrawals (see withdrawals-repository.ts): one call applies
// a batch of concurrent requests in ONE transaction, so they share a commit and
// a round trip, and a fixed handful of statements whatever the batch size (a
// statement per item would re-prepare the tables' CHECK constraints and its
// executor every time: most of PostgreSQL's work per item, measured).
// Each item keeps withdraw_once's rules:
// - the batch's accounts are locked first, in account order (so batches cannot
//   deadlock on them), and items are decided in account order, request order
//   within an account, against the locked balance: a debit happens only when
//   `balance >= amount`, never below zero;
// - a key decided before (committed, or by an earlier item of this batch) is a
//   replay of that decision; a lack of funds is recorded (and replayed), a
//   missing, foreign or closed account is not;
// - outcomes are claimed under (user_uuid, idempotency_key) with `on conflict
//   do nothing`: if a twin in another transaction claimed a key after we
//   looked, the whole batch stops with 40001 (serialization_failure) before it
//   commits anything, and the caller runs it again, when the twin is visible.
const withdrawBatchFunction: Migration = {
  up: async (db) => {
    await sql`create function withdraw_batch(
        p_withdrawal_ids uuid[], p_transaction_ids uuid[], p_customer_entry_ids uuid[],
        p_contra_entry_ids uuid[], p_user_uuids uuid[], p_idempotency_keys varchar[],
        p_account_nos varchar[], p_amounts numeric[], p_contra_account varchar)
      returns table (out_item integer, out_outcome varchar, out_balance_after numeric,
                     out_stored_withdrawal_id uuid, out_stored_account_no varchar,
                     out_stored_amount numeric, out_stored_status varchar, out_stored_failure_code varchar)
      language plpgsql
      -- Every statement here reaches the batch's rows by key. PL/pgSQL keeps a
      -- connection's plans for its lifetime, and plans made while the tables
      -- were small (seq scans, hash joins) went on scanning them as they grew
      -- (measured: 15 million withdrawals rows read in 6 s). Index paths only.
      set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
      as $$
      declare
        item record;
        current_account_no varchar;
        current_balance numeric;
        current_debit numeric := 0;
        -- What each item's key stands for once decided (by item number), for later twins in the batch.
        decided_withdrawal_ids uuid[] := '{}';
        decided_account_nos varchar[] := '{}';
        decided_amounts numeric[] := '{}';
        decided_statuses varchar[] := '{}';
        decided_failure_codes varchar[] := '{}';
        decided_balances numeric[] := '{}';
        debited_accounts varchar[] := '{}';
        debits numeric[] := '{}';
        claims integer[] := '{}';
        written integer;
        applied integer[] := '{}';
      begin
        perform 1 from accounts a where a.account_no = any(p_account_nos) order by a.account_no for update;

        for item in
          select t.ord::integer as ord, t.user_uuid, t.account_no, t.amount,
                 lag(t.ord::integer) over (partition by t.user_uuid, t.idempotency_key
                                           order by t.account_no, t.ord) as twin_ord,
                 a.user_uuid as owner, a.status as account_status, a.balance,
                 w.withdrawal_id as stored_withdrawal_id, w.account_no as stored_account_no,
                 w.amount as stored_amount, w.status as stored_status, w.failure_code as stored_failure_code,
                 w.balance_after as stored_balance_after
          from unnest(p_user_uuids, p_idempotency_keys, p_account_nos, p_amounts)
            with ordinality as t(user_uuid, idempotency_key, account_no, amount, ord)
          left join accounts a on a.account_no = t.account_no
          left join withdrawals w on w.user_uuid = t.user_uuid and w.idempotency_key = t.idempotency_key
          order by t.account_no, t.ord
        loop
          if item.account_no is distinct from current_account_no then
            if current_debit > 0 then
              debited_accounts := debited_accounts || current_account_no;
              debits := debits || current_debit;
            end if;
            current_account_no := item.account_no;
            current_balance := item.balance;
            current_debit := 0;
          end if;
          out_item := item.ord;
          out_balance_after := null;

          if item.stored_withdrawal_id is not null then
            decided_withdrawal_ids[item.ord] := item.stored_withdrawal_id;
            decided_account_nos[item.ord] := item.stored_account_no;
            decided_amounts[item.ord] := item.stored_amount;
            decided_statuses[item.ord] := item.stored_status;
            decided_failure_codes[item.ord] := item.stored_failure_code;
            decided_balances[item.ord] := item.stored_balance_after;
            out_outcome := 'REPLAY';
          elsif item.twin_ord is not null and decided_withdrawal_ids[item.twin_ord] is not null then
            decided_withdrawal_ids[item.ord] := decided_withdrawal_ids[item.twin_ord];
            decided_account_nos[item.ord] := decided_account_nos[item.twin_ord];
            decided_amounts[item.ord] := decided_amounts[item.twin_ord];
            decided_statuses[item.ord] := decided_statuses[item.twin_ord];
            decided_failure_codes[item.ord] := decided_failure_codes[item.twin_ord];
            decided_balances[item.ord] := decided_balances[item.twin_ord];
            out_outcome := 'REPLAY';
          elsif item.owner is distinct from item.user_uuid then
            out_outcome := 'ACCOUNT_NOT_FOUND';
          elsif item.account_status <> 'ACTIVE' then
            out_outcome := 'ACCOUNT_CLOSED';
          else
            decided_withdrawal_ids[item.ord] := p_withdrawal_ids[item.ord];
            decided_account_nos[item.ord] := item.account_no;
            decided_amounts[item.ord] := item.amount;
            claims := claims || item.ord;
            if current_balance >= item.amount then
              current_balance := current_balance - item.amount;
              current_debit := current_debit + item.amount;
              decided_statuses[item.ord] := 'SUCCEEDED';
              decided_balances[item.ord] := current_balance;
              applied := applied || item.ord;
              out_outcome := 'SUCCEEDED';
            else
              decided_statuses[item.ord] := 'REJECTED';
              decided_failure_codes[item.ord] := 'INSUFFICIENT_BALANCE';
              out_outcome := 'INSUFFICIENT_BALANCE';
            end if;
          end if;

          if out_outcome = 'SUCCEEDED' then
            out_balance_after := current_balance;
          elsif out_outcome = 'REPLAY' then
            out_balance_after := decided_balances[item.ord];
          end if;
          out_stored_withdrawal_id := case when out_outcome = 'REPLAY' then decided_withdrawal_ids[item.ord] end;
          out_stored_account_no := case when out_outcome = 'REPLAY' then decided_account_nos[item.ord] end;
          out_stored_amount := case when out_outcome = 'REPLAY' then decided_amounts[item.ord] end;
          out_stored_status := case when out_outcome = 'REPLAY' then decided_statuses[item.ord] end;
          out_stored_failure_code := case when out_outcome = 'REPLAY' then decided_failure_codes[item.ord] end;
          return next;
        end loop;
        if current_debit > 0 then
          debited_accounts := debited_accounts || current_account_no;
          debits := debits || current_debit;
        end if;

        -- Still a conditional debit, per account for the items it granted. The
        -- rows are locked, so the condition holds; if it ever did not, stop.
        update accounts a set balance = a.balance - d.amount
        from unnest(debited_accounts, debits) as d(account_no, amount)
        where a.account_no = d.account_no and a.balance >= d.amount;
        get diagnostics written = row_count;
        if written <> cardinality(debited_accounts) then
          raise exception 'withdraw_batch: a locked balance changed under the batch';
        end if;

        -- In key order, so two batches claiming the same keys wait for each other instead of deadlocking.
        insert into withdrawals (user_uuid, idempotency_key, withdrawal_id, account_no, amount, status,
                                 failure_code, balance_after)
        select p_user_uuids[c.ord], p_idempotency_keys[c.ord], decided_withdrawal_ids[c.ord],
               decided_account_nos[c.ord], decided_amounts[c.ord], decided_statuses[c.ord],
               decided_failure_codes[c.ord], decided_balances[c.ord]
        from unnest(claims) as c(ord)
        order by p_user_uuids[c.ord], p_idempotency_keys[c.ord]
        on conflict on constraint withdrawals_user_key do nothing;
        get diagnostics written = row_count;
        if written < cardinality(claims) then
          raise exception 'a withdrawal key of this batch was claimed concurrently; run the batch again'
            using errcode = 'serialization_failure';
        end if;

        insert into ledger_transactions (id, type, reference, account_no, amount)
        select p_transaction_ids[x.ord], 'WITHDRAWAL', p_withdrawal_ids[x.ord]::text, p_account_nos[x.ord],
               p_amounts[x.ord]
        from unnest(applied) as x(ord);
        insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference)
        select leg.id, p_transaction_ids[x.ord], leg.account_no, leg.side, 'WITHDRAWAL', p_amounts[x.ord],
               leg.balance_after, p_withdrawal_ids[x.ord]::text
        from unnest(applied) as x(ord)
        cross join lateral (values
          (p_customer_entry_ids[x.ord], p_account_nos[x.ord], 'DEBIT', decided_balances[x.ord]),
          (p_contra_entry_ids[x.ord], p_contra_account, 'CREDIT', null)
        ) as leg(id, account_no, side, balance_after);
      end
    $$`.execute(db);
  },
};

// 0005 keeps withdraw_batch's signature, answers and rules and changes how a
// granted item is debited: each withdrawal is its own conditional statement,
// `update … set balance = balance - amount where balance >= amount returning
// balance`, run in account order, request order within an account. Nothing
// reads a balance and then writes one: the statement decides, the row count
// says whether it did, and the CHECK (balance >= 0) stands behind it. The
// earlier form (decide against the locked balance, then one conditional debit
// per account) gave the same outcomes; this one is the design's rule to the
// letter, at the cost of one statement per item instead of one per account.
const withdrawBatchPerItemDebit: Migration = {
  up: async (db) => {
    await sql`create or replace function withdraw_batch(
        p_withdrawal_ids uuid[], p_transaction_ids uuid[], p_customer_entry_ids uuid[],
        p_contra_entry_ids uuid[], p_user_uuids uuid[], p_idempotency_keys varchar[],
        p_account_nos varchar[], p_amounts numeric[], p_contra_account varchar)
      returns table (out_item integer, out_outcome varchar, out_balance_after numeric,
                     out_stored_withdrawal_id uuid, out_stored_account_no varchar,
                     out_stored_amount numeric, out_stored_status varchar, out_stored_failure_code varchar)
      language plpgsql
      -- Index paths only: see 0003 (plans cached while the tables were small).
      set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
      as $$
      declare
        item record;
        debited_balance numeric;
        -- What each item's key stands for once decided (by item number), for later twins in the batch.
        decided_withdrawal_ids uuid[] := '{}';
        decided_account_nos varchar[] := '{}';
        decided_amounts numeric[] := '{}';
        decided_statuses varchar[] := '{}';
        decided_failure_codes varchar[] := '{}';
        decided_balances numeric[] := '{}';
        claims integer[] := '{}';
        written integer;
        applied integer[] := '{}';
      begin
        -- Locks in account order first, so batches (and the deposit and payment
        -- writers, which lock the same way) wait for each other instead of deadlocking.
        perform 1 from accounts a where a.account_no = any(p_account_nos) order by a.account_no for update;

        for item in
          select t.ord::integer as ord, t.user_uuid, t.account_no, t.amount,
                 lag(t.ord::integer) over (partition by t.user_uuid, t.idempotency_key
                                           order by t.account_no, t.ord) as twin_ord,
                 a.user_uuid as owner, a.status as account_status,
                 w.withdrawal_id as stored_withdrawal_id, w.account_no as stored_account_no,
                 w.amount as stored_amount, w.status as stored_status, w.failure_code as stored_failure_code,
                 w.balance_after as stored_balance_after
          from unnest(p_user_uuids, p_idempotency_keys, p_account_nos, p_amounts)
            with ordinality as t(user_uuid, idempotency_key, account_no, amount, ord)
          left join accounts a on a.account_no = t.account_no
          left join withdrawals w on w.user_uuid = t.user_uuid and w.idempotency_key = t.idempotency_key
          order by t.account_no, t.ord
        loop
          out_item := item.ord;
          out_balance_after := null;

          if item.stored_withdrawal_id is not null then
            decided_withdrawal_ids[item.ord] := item.stored_withdrawal_id;
            decided_account_nos[item.ord] := item.stored_account_no;
            decided_amounts[item.ord] := item.stored_amount;
            decided_statuses[item.ord] := item.stored_status;
            decided_failure_codes[item.ord] := item.stored_failure_code;
            decided_balances[item.ord] := item.stored_balance_after;
            out_outcome := 'REPLAY';
          elsif item.twin_ord is not null and decided_withdrawal_ids[item.twin_ord] is not null then
            decided_withdrawal_ids[item.ord] := decided_withdrawal_ids[item.twin_ord];
            decided_account_nos[item.ord] := decided_account_nos[item.twin_ord];
            decided_amounts[item.ord] := decided_amounts[item.twin_ord];
            decided_statuses[item.ord] := decided_statuses[item.twin_ord];
            decided_failure_codes[item.ord] := decided_failure_codes[item.twin_ord];
            decided_balances[item.ord] := decided_balances[item.twin_ord];
            out_outcome := 'REPLAY';
          elsif item.owner is distinct from item.user_uuid then
            out_outcome := 'ACCOUNT_NOT_FOUND';
          elsif item.account_status <> 'ACTIVE' then
            out_outcome := 'ACCOUNT_CLOSED';
          else
            decided_withdrawal_ids[item.ord] := p_withdrawal_ids[item.ord];
            decided_account_nos[item.ord] := item.account_no;
            decided_amounts[item.ord] := item.amount;
            claims := claims || item.ord;
            -- The debit: one conditional statement per withdrawal.
            update accounts a set balance = a.balance - item.amount
            where a.account_no = item.account_no and a.balance >= item.amount
            returning a.balance into debited_balance;
            if found then
              decided_statuses[item.ord] := 'SUCCEEDED';
              decided_balances[item.ord] := debited_balance;
              applied := applied || item.ord;
              out_outcome := 'SUCCEEDED';
            else
              decided_statuses[item.ord] := 'REJECTED';
              decided_failure_codes[item.ord] := 'INSUFFICIENT_BALANCE';
              out_outcome := 'INSUFFICIENT_BALANCE';
            end if;
          end if;

          if out_outcome = 'SUCCEEDED' then
            out_balance_after := debited_balance;
          elsif out_outcome = 'REPLAY' then
            out_balance_after := decided_balances[item.ord];
          end if;
          out_stored_withdrawal_id := case when out_outcome = 'REPLAY' then decided_withdrawal_ids[item.ord] end;
          out_stored_account_no := case when out_outcome = 'REPLAY' then decided_account_nos[item.ord] end;
          out_stored_amount := case when out_outcome = 'REPLAY' then decided_amounts[item.ord] end;
          out_stored_status := case when out_outcome = 'REPLAY' then decided_statuses[item.ord] end;
          out_stored_failure_code := case when out_outcome = 'REPLAY' then decided_failure_codes[item.ord] end;
          return next;
        end loop;

        -- In key order, so two batches claiming the same keys wait for each other instead of deadlocking.
        insert into withdrawals (user_uuid, idempotency_key, withdrawal_id, account_no, amount, status,
                                 failure_code, balance_after)
        select p_user_uuids[c.ord], p_idempotency_keys[c.ord], decided_withdrawal_ids[c.ord],
               decided_account_nos[c.ord], decided_amounts[c.ord], decided_statuses[c.ord],
               decided_failure_codes[c.ord], decided_balances[c.ord]
        from unnest(claims) as c(ord)
        order by p_user_uuids[c.ord], p_idempotency_keys[c.ord]
        on conflict on constraint withdrawals_user_key do nothing;
        get diagnostics written = row_count;
        if written < cardinality(claims) then
          raise exception 'a withdrawal key of this batch was claimed concurrently; run the batch again'
            using errcode = 'serialization_failure';
        end if;

        insert into ledger_transactions (id, type, reference, account_no, amount)
        select p_transaction_ids[x.ord], 'WITHDRAWAL', p_withdrawal_ids[x.ord]::text, p_account_nos[x.ord],
               p_amounts[x.ord]
        from unnest(applied) as x(ord);
        insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference)
        select leg.id, p_transaction_ids[x.ord], leg.account_no, leg.side, 'WITHDRAWAL', p_amounts[x.ord],
               leg.balance_after, p_withdrawal_ids[x.ord]::text
        from unnest(applied) as x(ord)
        cross join lateral (values
          (p_customer_entry_ids[x.ord], p_account_nos[x.ord], 'DEBIT', decided_balances[x.ord]),
          (p_contra_entry_ids[x.ord], p_contra_account, 'CREDIT', null)
        ) as leg(id, account_no, side, balance_after);
      end
    $$`.execute(db);
  },
};

/**
 * Transfers (이체): one row per (user, key) decided — a success or a refusal
 * the user can act on — so a retry is answered from it; the daily total out
 * per user and Asia/Seoul day, whose row lock makes the limit hold however
 * many transfers race; and transfer_batch, group commit's transaction for
 * transfers (see transfers-repository.ts).
 *
 * Lock order, the same for every writer of accounts, so nothing deadlocks:
 * the batch's idempotency keys (advisory locks, sorted), then every account
 * of the batch (FOR UPDATE in account-number order, as withdrawals, deposits
 * and payments do), then the daily-total rows (sorted by user).
 */
const transfers: Migration = {
  up: async (db) => {
    await sql`alter table ledger_transactions drop constraint ledger_transactions_type_check`.execute(db);
    await sql`alter table ledger_transactions add constraint ledger_transactions_type_check
      check (type in ('DEPOSIT', 'WITHDRAWAL', 'PAYMENT', 'TRANSFER'))`.execute(db);

    await sql`create table transfers (
      transfer_id uuid primary key,
      user_uuid uuid not null,
      idempotency_key varchar(64) not null,
      from_account_no varchar(14) not null,
      to_account_no varchar(14) not null,
      amount numeric(20,0) not null check (amount > 0),
      memo varchar(20) null,
      status varchar(10) not null check (status in ('SUCCEEDED', 'REJECTED')),
      failure_code varchar(64) null,
      balance_after numeric(20,0) null,
      created_at timestamptz not null default now(),
      constraint transfers_user_key unique (user_uuid, idempotency_key),
      constraint transfers_two_accounts check (from_account_no <> to_account_no)
    )`.execute(db);

    await sql`create table transfer_daily_totals (
      user_uuid uuid not null,
      day date not null,
      total numeric(20,0) not null check (total >= 0),
      primary key (user_uuid, day)
    )`.execute(db);

    await sql`create function transfer_batch(
        p_transfer_ids uuid[], p_transaction_ids uuid[], p_out_entry_ids uuid[], p_in_entry_ids uuid[],
        p_user_uuids uuid[], p_keys varchar[], p_froms varchar[], p_tos varchar[], p_amounts numeric[],
        p_memos varchar[], p_daily_limit numeric, p_balance_max numeric)
      returns table (out_item integer, out_outcome varchar, out_transfer_id uuid, out_from varchar,
                     out_to varchar, out_amount numeric, out_memo varchar, out_status varchar,
                     out_failure_code varchar, out_balance_after numeric, out_created_at timestamptz)
      language plpgsql as $$
      declare
        seoul_day date := (now() at time zone 'Asia/Seoul')::date;
        lock_id bigint;
        stored record;
        sender record;
        recipient record;
        failure varchar;
        sender_after numeric;
        recipient_after numeric;
      begin
        -- The same key at once (a retry racing its original, on any instance): one waits, then replays.
        for lock_id in
          select distinct hashtextextended('transfer:' || x.u || ':' || x.k, 0)
          from unnest(p_user_uuids, p_keys) as x(u, k) order by 1
        loop
          perform pg_advisory_xact_lock(lock_id);
        end loop;
        perform 1 from accounts where account_no = any(p_froms || p_tos) order by account_no for update;
        insert into transfer_daily_totals (user_uuid, day, total)
        select distinct u, seoul_day, 0 from unnest(p_user_uuids) as u order by 1
        on conflict do nothing;
        perform 1 from transfer_daily_totals
        where user_uuid = any(p_user_uuids) and day = seoul_day order by user_uuid for update;

        for i in 1 .. cardinality(p_transfer_ids) loop
          out_item := i;
          out_transfer_id := null; out_from := null; out_to := null; out_amount := null; out_memo := null;
          out_status := null; out_failure_code := null; out_balance_after := null; out_created_at := null;

          select t.transfer_id, t.from_account_no, t.to_account_no, t.amount, t.memo, t.status,
                 t.failure_code, t.balance_after, t.created_at
            into stored
            from transfers t where t.user_uuid = p_user_uuids[i] and t.idempotency_key = p_keys[i];
          if found then
            out_outcome := 'REPLAY';
            out_transfer_id := stored.transfer_id; out_from := stored.from_account_no;
            out_to := stored.to_account_no; out_amount := stored.amount; out_memo := stored.memo;
            out_status := stored.status; out_failure_code := stored.failure_code;
            out_balance_after := stored.balance_after; out_created_at := stored.created_at;
            return next;
            continue;
          end if;

          select a.user_uuid, a.status, a.balance into sender from accounts a where a.account_no = p_froms[i];
          if not found or sender.user_uuid <> p_user_uuids[i] or sender.status <> 'ACTIVE' then
            out_outcome := 'ACCOUNT_NOT_FOUND';
            return next;
            continue;
          end if;
          select a.status, a.balance into recipient from accounts a where a.account_no = p_tos[i];
          if not found or recipient.status <> 'ACTIVE' then
            out_outcome := 'RECIPIENT_NOT_FOUND';
            return next;
            continue;
          end if;

          failure := null;
          if sender.balance < p_amounts[i] then
            failure := 'INSUFFICIENT_BALANCE';
          elsif recipient.balance + p_amounts[i] > p_balance_max then
            failure := 'BALANCE_LIMIT_EXCEEDED';
          else
            update transfer_daily_totals d set total = d.total + p_amounts[i]
            where d.user_uuid = p_user_uuids[i] and d.day = seoul_day and d.total + p_amounts[i] <= p_daily_limit;
            if not found then
              failure := 'DAILY_LIMIT_EXCEEDED';
            end if;
          end if;

          out_transfer_id := p_transfer_ids[i]; out_from := p_froms[i]; out_to := p_tos[i];
          out_amount := p_amounts[i]; out_memo := p_memos[i]; out_created_at := now();
          if failure is not null then
            insert into transfers (transfer_id, user_uuid, idempotency_key, from_account_no, to_account_no,
                                   amount, memo, status, failure_code, balance_after)
            values (p_transfer_ids[i], p_user_uuids[i], p_keys[i], p_froms[i], p_tos[i], p_amounts[i],
                    p_memos[i], 'REJECTED', failure, null);
            out_outcome := 'REJECTED'; out_status := 'REJECTED'; out_failure_code := failure;
            return next;
            continue;
          end if;

          update accounts set balance = balance - p_amounts[i] where account_no = p_froms[i]
            returning balance into sender_after;
          update accounts set balance = balance + p_amounts[i] where account_no = p_tos[i]
            returning balance into recipient_after;
          insert into ledger_transactions (id, type, reference, account_no, amount)
          values (p_transaction_ids[i], 'TRANSFER', p_transfer_ids[i]::text, p_froms[i], p_amounts[i]);
          insert into ledger_entries (id, transaction_id, account_no, side, type, amount, balance_after, reference)
          values (p_out_entry_ids[i], p_transaction_ids[i], p_froms[i], 'DEBIT', 'TRANSFER_OUT', p_amounts[i],
                  sender_after, p_transfer_ids[i]::text),
                 (p_in_entry_ids[i], p_transaction_ids[i], p_tos[i], 'CREDIT', 'TRANSFER_IN', p_amounts[i],
                  recipient_after, p_transfer_ids[i]::text);
          insert into transfers (transfer_id, user_uuid, idempotency_key, from_account_no, to_account_no,
                                 amount, memo, status, failure_code, balance_after)
          values (p_transfer_ids[i], p_user_uuids[i], p_keys[i], p_froms[i], p_tos[i], p_amounts[i],
                  p_memos[i], 'SUCCEEDED', null, sender_after);
          out_outcome := 'SUCCEEDED'; out_status := 'SUCCEEDED'; out_balance_after := sender_after;
          return next;
        end loop;
      end
    $$`.execute(db);
  },
};

/**
 * An account's statement in the order its lines were written. Entry ids are
 * UUIDv7s made in the application before the transaction even starts, so two
 * movements on one account can commit in the other order than their ids (the
 * later id's transaction got the account's lock first), and a statement in id
 * order then shows a stale balance as its newest line (chaos finding 8).
 * `seq` is taken from a sequence by the INSERT itself, and every writer of a
 * customer's entries holds that account's row lock (FOR UPDATE, or the UPDATE
 * of its balance) from before the insert until the commit: per account, seq
 * order is the order the balances changed in, so balance_after runs along it.
 * (Within one statement several rows take their values in the order the rows
 * are produced, which is the order the batch functions computed their
 * balances in.) Only per-account order means anything; across accounts seq
 * says nothing.
 *
 * Existing rows are numbered in their id order, the order statements showed
 * them in until now. Kysely's migrator runs pending migrations in one
 * transaction on PostgreSQL, so the append-only trigger is off only for this
 * backfill, invisibly to any writer (ALTER TABLE holds the table meanwhile).
 * The backfill rewrites every row once, and the ledger waits for it: 17 s for
 * 500,000 entries on the 2-core development machine, so a ledger of many
 * millions wants its upgrade in a quiet hour.
 */
const ledgerEntrySequence: Migration = {
  up: async (db) => {
    // Replaced below; dropped first so the backfill does not maintain it.
    await sql`drop index ledger_entries_account`.execute(db);
    await sql`alter table ledger_entries add column seq bigint`.execute(db);
    await sql`alter table ledger_entries disable trigger ledger_entries_append_only`.execute(db);
    await sql`update ledger_entries e set seq = numbered.seq
      from (select id, row_number() over (order by id) as seq from ledger_entries) numbered
      where numbered.id = e.id`.execute(db);
    await sql`alter table ledger_entries enable trigger ledger_entries_append_only`.execute(db);
    // GENERATED ALWAYS: no writer can supply its own position.
    await sql`alter table ledger_entries alter column seq set not null`.execute(db);
    await sql`alter table ledger_entries alter column seq add generated always as identity`.execute(db);
    await sql`select setval(pg_get_serial_sequence('ledger_entries', 'seq'),
      coalesce((select max(seq) from ledger_entries), 0) + 1, false)`.execute(db);
    // Still the only lookup path (see 0001_ledger): the statement, newest first, now by seq.
    await sql`create index ledger_entries_account_seq on ledger_entries (account_no, seq desc)`.execute(db);
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
  '0003_withdraw_batch_function': withdrawBatchFunction,
  // A retried opening (its first answer lost) names the account it already
  // opened: the key is unique per user, and only keyed opens carry one.
  '0004_account_open_key': {
    up: async (db) => {
      await sql`alter table accounts add column open_key varchar(64) null`.execute(db);
      await sql`create unique index accounts_user_open_key on accounts (user_uuid, open_key)
        where open_key is not null`.execute(db);
    },
  },
  '0005_withdraw_batch_debit_per_item': withdrawBatchPerItemDebit,
  '0006_transfers': transfers,
  '0007_ledger_entry_sequence': ledgerEntrySequence,
  // The hourly prune of past days' totals (pruneTransferDailyTotals) looks
  // rows up by day; without this it read the whole table every hour, about a
  // row per user for each of the last eight days they transferred.
  '0008_transfer_daily_totals_day': {
    up: async (db) => {
      await sql`create index transfer_daily_totals_day on transfer_daily_totals (day)`.execute(db);
    },
  },
};
