import type { Migration } from '@nuri/platform/db';
import { idempotencyMigrations } from '@nuri/platform/idempotency';
import { inboxMigrations } from '@nuri/platform/kafka/inbox';
import { outboxMigrations } from '@nuri/platform/kafka/outbox';
import { sql } from 'kysely';

// 10^15 (docs/api.md: a balance never exceeds it). The code refuses to pass it;
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

// Accepting a payment (payments-repository.ts `start`) is the hot path, and on
// a small box each statement's round trip costs more than its work. This
// procedure is that whole transaction in one call: step 1 (the conditional
// deduction and its USE row), the payment row, and the outbox row of the
// first cash request, committed together or not at all. Too few points
// raise SQLSTATE 45000 'INSUFFICIENT_POINTS' after rolling back; any other
// error (a duplicate order id, a lost lock race) rolls back and is raised as
// it came. p_deduct 0 skips step 1; a null p_outbox_id writes no outbox row.
const startPaymentProcedure: Migration = {
  up: async (db) => {
    await sql`create procedure start_payment(
        in p_payment_id char(36) character set ascii collate ascii_bin,
        in p_user_uuid char(36) character set ascii collate ascii_bin,
        in p_order_id varchar(64) character set ascii collate ascii_bin,
        in p_account_no char(14) character set ascii, in p_cash_amount decimal(20,0),
        in p_point_amount decimal(20,0), in p_merchant varchar(100),
        in p_status varchar(10) character set ascii, in p_attempts int,
        in p_next_attempt_at datetime(3), in p_created_at datetime(3), in p_settled_at datetime(3),
        in p_deduct decimal(20,0), in p_use_id char(36) character set ascii collate ascii_bin,
        in p_outbox_id char(36) character set ascii collate ascii_bin, in p_outbox_topic varchar(249),
        in p_outbox_key varchar(255), in p_outbox_payload mediumtext)
      modifies sql data
      begin
        declare exit handler for sqlexception
        begin
          rollback;
          resignal;
        end;
        start transaction;
        if p_deduct > 0 then
          -- The wallet row lock taken here orders one user's payments. The new
          -- balance is kept by the UPDATE itself (no second read of the row).
          update point_wallets set balance = (@point_balance_after := balance - p_deduct)
            where user_uuid = p_user_uuid and balance >= p_deduct;
          if row_count() <> 1 then
            signal sqlstate '45000' set message_text = 'INSUFFICIENT_POINTS';
          end if;
          insert into point_history (id, user_uuid, type, amount, balance_after, payment_id)
            values (p_use_id, p_user_uuid, 'USE', p_deduct, @point_balance_after, p_payment_id);
        end if;
        insert into payments (payment_id, user_uuid, order_id, account_no, cash_amount, point_amount,
                              merchant, status, failure_code, attempts, next_attempt_at, stuck_at,
                              created_at, settled_at)
          values (p_payment_id, p_user_uuid, p_order_id, p_account_no, p_cash_amount, p_point_amount,
                  p_merchant, p_status, null, p_attempts, p_next_attempt_at, null,
                  p_created_at, p_settled_at);
        if p_outbox_id is not null then
          insert into outbox (id, topic, \`key\`, payload)
            values (p_outbox_id, p_outbox_topic, p_outbox_key, p_outbox_payload);
        end if;
        commit;
      end`.execute(db);
  },
  down: async (db) => {
    await sql`drop procedure start_payment`.execute(db);
  },
};

/**
 * start_payment, second version: a payment that already exists is found
 * before anything is decided. The first version checked the wallet first, so
 * a retry of a payment whose commit succeeded but whose answer was lost (the
 * idempotency lease taken over, the same payment id) met a wallet the payment
 * itself had emptied and was answered INSUFFICIENT_POINTS — stored as the
 * key's answer for good while the saga went on to debit the cash. The
 * wallet row is locked first, so two attempts of one payment (or two payments
 * of one user) take their turns: whichever comes second sees the first's row.
 */
const startPaymentExistingFirst: Migration = {
  up: async (db) => {
    await sql`drop procedure if exists start_payment`.execute(db);
    await sql`create procedure start_payment(
        in p_payment_id char(36) character set ascii collate ascii_bin,
        in p_user_uuid char(36) character set ascii collate ascii_bin,
        in p_order_id varchar(64) character set ascii collate ascii_bin,
        in p_account_no char(14) character set ascii, in p_cash_amount decimal(20,0),
        in p_point_amount decimal(20,0), in p_merchant varchar(100),
        in p_status varchar(10) character set ascii, in p_attempts int,
        in p_next_attempt_at datetime(3), in p_created_at datetime(3), in p_settled_at datetime(3),
        in p_deduct decimal(20,0), in p_use_id char(36) character set ascii collate ascii_bin,
        in p_outbox_id char(36) character set ascii collate ascii_bin, in p_outbox_topic varchar(249),
        in p_outbox_key varchar(255), in p_outbox_payload mediumtext)
      modifies sql data
      begin
        declare v_existing int default 0;
        declare exit handler for sqlexception
        begin
          rollback;
          resignal;
        end;
        start transaction;
        -- The wallet row lock orders one user's payments, attempts of one payment included.
        select count(*) into @wallet_locked from point_wallets where user_uuid = p_user_uuid for update;
        select count(*) into v_existing from payments where payment_id = p_payment_id;
        if v_existing > 0 then
          rollback;
          signal sqlstate '45000' set message_text = 'PAYMENT_EXISTS';
        end if;
        if p_deduct > 0 then
          update point_wallets set balance = (@point_balance_after := balance - p_deduct)
            where user_uuid = p_user_uuid and balance >= p_deduct;
          if row_count() <> 1 then
            signal sqlstate '45000' set message_text = 'INSUFFICIENT_POINTS';
          end if;
          insert into point_history (id, user_uuid, type, amount, balance_after, payment_id)
            values (p_use_id, p_user_uuid, 'USE', p_deduct, @point_balance_after, p_payment_id);
        end if;
        insert into payments (payment_id, user_uuid, order_id, account_no, cash_amount, point_amount,
                              merchant, status, failure_code, attempts, next_attempt_at, stuck_at,
                              created_at, settled_at)
          values (p_payment_id, p_user_uuid, p_order_id, p_account_no, p_cash_amount, p_point_amount,
                  p_merchant, p_status, null, p_attempts, p_next_attempt_at, null,
                  p_created_at, p_settled_at);
        if p_outbox_id is not null then
          insert into outbox (id, topic, \`key\`, payload)
            values (p_outbox_id, p_outbox_topic, p_outbox_key, p_outbox_payload);
        end if;
        commit;
      end`.execute(db);
  },
};

/**
 * start_payments: start_payment for a batch of payments (payments-repository.ts
 * gathers concurrent acceptances through group commit), one call and ONE
 * commit for all of them. `p_items` is a JSON array of objects with the
 * fields of start_payment's parameters (camelCase; a null one left out). Each
 * item is decided as start_payment decides it, in the array's order, behind
 * its own savepoint, and answers one outcome; the call answers one row,
 * `outcomes`, those outcomes comma-separated in the items' order:
 * - STARTED: the payment, its USE row, its outbox row and its Idempotency-Key
 *   row (when the item names a key: `idemKey`, `requestHash`, and the answer
 *   the key is bound to, `keyStatus` and `keyBody`) are written;
 * - EXISTS: the payment id is taken (nothing written): a retry of a payment made;
 * - KEY_TAKEN: the item's Idempotency-Key is bound already (nothing written):
 *   the caller answers from that key's row;
 * - INSUFFICIENT: the wallet does not cover the deduction (nothing written,
 *   the key's row neither: the caller binds the key to the refusal);
 * - DUPLICATE: a unique key refused it (nothing of it written); the caller
 *   looks up which (its payment id, its key, its order id) — a row that
 *   refuses an insert has committed, so it is there to be found.
 * The wallet rows are locked as the items come: the caller sorts the items by
 * user, so locks are taken in key order, like the settlement's refunds. Any
 * other error rolls the whole batch back and is raised as it came.
 *
 * JSON_TABLE truncates a value too long for its column with a warning only,
 * even under STRICT_TRANS_TABLES; so its columns are wider than the
 * variables they are fetched into, and a value too long (or not a number, not
 * ASCII where the column is) fails the FETCH under strict mode instead of
 * being stored cut short.
 */
const startPaymentsBatch: Migration = {
  up: async (db) => {
    await sql`create procedure start_payments(in p_items longtext)
      modifies sql data
      begin
        declare v_done boolean default false;
        declare v_existing int;
        declare v_outcome varchar(12) character set ascii;
        declare v_outcomes text character set ascii default '';
        declare v_payment_id char(36) character set ascii collate ascii_bin;
        declare v_user_uuid char(36) character set ascii collate ascii_bin;
        declare v_order_id varchar(64) character set ascii collate ascii_bin;
        declare v_account_no char(14) character set ascii;
        declare v_cash_amount decimal(20,0);
        declare v_point_amount decimal(20,0);
        declare v_merchant varchar(100);
        declare v_status varchar(10) character set ascii;
        declare v_attempts int;
        declare v_next_attempt_at datetime(3);
        declare v_created_at datetime(3);
        declare v_settled_at datetime(3);
        declare v_deduct decimal(20,0);
        declare v_use_id char(36) character set ascii collate ascii_bin;
        declare v_outbox_id char(36) character set ascii collate ascii_bin;
        declare v_outbox_topic varchar(249);
        declare v_outbox_key varchar(255);
        declare v_outbox_payload mediumtext;
        declare v_idem_key varchar(64) character set ascii collate ascii_bin;
        declare v_request_hash char(64) character set ascii collate ascii_bin;
        declare v_key_status int;
        declare v_key_body mediumtext;
        declare items cursor for
          select payment_id, user_uuid, order_id, account_no, cash_amount, point_amount, merchant,
                 status, attempts, next_attempt_at, created_at, settled_at, deduct, use_id,
                 outbox_id, outbox_topic, outbox_key, outbox_payload, idem_key, request_hash, key_status, key_body
          from json_table(p_items, '$[*]' columns (
            item for ordinality,
            payment_id varchar(40) path '$.paymentId',
            user_uuid varchar(40) path '$.userUuid',
            order_id varchar(80) path '$.orderId',
            account_no varchar(20) path '$.accountNo',
            cash_amount varchar(40) path '$.cashAmount',
            point_amount varchar(40) path '$.pointAmount',
            merchant varchar(120) path '$.merchant',
            status varchar(20) path '$.status',
            attempts varchar(20) path '$.attempts',
            next_attempt_at varchar(40) path '$.nextAttemptAt',
            created_at varchar(40) path '$.createdAt',
            settled_at varchar(40) path '$.settledAt',
            deduct varchar(40) path '$.deduct',
            use_id varchar(40) path '$.useId',
            outbox_id varchar(40) path '$.outboxId',
            outbox_topic varchar(260) path '$.outboxTopic',
            outbox_key varchar(270) path '$.outboxKey',
            outbox_payload longtext path '$.outboxPayload',
            idem_key varchar(80) path '$.idemKey',
            request_hash varchar(80) path '$.requestHash',
            key_status varchar(20) path '$.keyStatus',
            key_body longtext path '$.keyBody')) as batch
          order by item;
        declare continue handler for not found set v_done = true;
        declare exit handler for sqlexception
        begin
          rollback;
          resignal;
        end;
        -- READ COMMITTED, as the repository's other transactions: under REPEATABLE READ
        -- the first read would fix one snapshot for the whole batch, and a later item
        -- would not see a payment or key committed since (its checks read current rows).
        set transaction isolation level read committed;
        start transaction;
        open items;
        each_item: loop
          fetch items into v_payment_id, v_user_uuid, v_order_id, v_account_no, v_cash_amount,
            v_point_amount, v_merchant, v_status, v_attempts, v_next_attempt_at, v_created_at,
            v_settled_at, v_deduct, v_use_id, v_outbox_id, v_outbox_topic, v_outbox_key, v_outbox_payload,
            v_idem_key, v_request_hash, v_key_status, v_key_body;
          if v_done then
            leave each_item;
          end if;
          set v_outcome = 'STARTED';
          savepoint item_start;
          one_item: begin
            declare exit handler for 1062
            begin
              rollback to savepoint item_start;
              set v_outcome = 'DUPLICATE';
            end;
            -- The wallet row lock orders one user's payments, attempts of one payment included.
            select count(*) into v_existing from point_wallets where user_uuid = v_user_uuid for update;
            select count(*) into v_existing from payments where payment_id = v_payment_id;
            if v_existing > 0 then
              set v_outcome = 'EXISTS';
              leave one_item;
            end if;
            if v_idem_key is not null then
              -- The Idempotency-Key is bound with the payment, to the answer it gets.
              select count(*) into v_existing from idempotency_keys
                where user_uuid = v_user_uuid and idem_key = v_idem_key;
              if v_existing > 0 then
                set v_outcome = 'KEY_TAKEN';
                leave one_item;
              end if;
              insert into idempotency_keys (user_uuid, idem_key, request_hash, operation_id, state,
                                            status_code, response_body, locked_until)
                values (v_user_uuid, v_idem_key, v_request_hash, v_payment_id, 'DONE',
                        v_key_status, v_key_body, v_created_at);
            end if;
            if v_deduct > 0 then
              update point_wallets set balance = (@point_balance_after := balance - v_deduct)
                where user_uuid = v_user_uuid and balance >= v_deduct;
              if row_count() <> 1 then
                -- The key's row, if any, goes too: the caller binds the key to the refusal.
                rollback to savepoint item_start;
                set v_outcome = 'INSUFFICIENT';
                leave one_item;
              end if;
              insert into point_history (id, user_uuid, type, amount, balance_after, payment_id)
                values (v_use_id, v_user_uuid, 'USE', v_deduct, @point_balance_after, v_payment_id);
            end if;
            insert into payments (payment_id, user_uuid, order_id, account_no, cash_amount, point_amount,
                                  merchant, status, failure_code, attempts, next_attempt_at, stuck_at,
                                  created_at, settled_at)
              values (v_payment_id, v_user_uuid, v_order_id, v_account_no, v_cash_amount, v_point_amount,
                      v_merchant, v_status, null, v_attempts, v_next_attempt_at, null,
                      v_created_at, v_settled_at);
            if v_outbox_id is not null then
              insert into outbox (id, topic, \`key\`, payload)
                values (v_outbox_id, v_outbox_topic, v_outbox_key, v_outbox_payload);
            end if;
          end one_item;
          release savepoint item_start;
          set v_outcomes = concat(v_outcomes, if(v_outcomes = '', '', ','), v_outcome);
        end loop;
        close items;
        commit;
        select v_outcomes as outcomes;
      end`.execute(db);
  },
  down: async (db) => {
    await sql`drop procedure start_payments`.execute(db);
  },
};

/**
 * 0004's start_payments again, with the two long JSON_TABLE columns as
 * VARCHAR instead of LONGTEXT. MariaDB materialises a stored procedure's
 * cursor in a temporary table, and a LONGTEXT column sends that table to
 * disk (Aria): one table created on disk per batch (990 in a run of 10,000
 * payments, with 492 sort files and 246 merge passes for its ORDER BY). At
 * VARCHAR it stays in memory: alone on MariaDB, 2,000 calls of 12 items cost
 * 0.14 ms less of its CPU each. An outbox payload (a payment.requested:
 * ids, an order id of at most 64, a correlation id of at most 64 characters)
 * and a key's stored answer stay under 1,000 characters; the columns are
 * 4,000 and 2,000 wide, the variables one less, so a value that long fails
 * the FETCH rather than being cut (see 0004).
 */
const startPaymentsInMemory: Migration = {
  up: async (db) => {
    // One statement: an instance still running calls the old procedure up to the moment it is replaced, never none.
    await sql`create or replace procedure start_payments(in p_items longtext)
      modifies sql data
      begin
        declare v_done boolean default false;
        declare v_existing int;
        declare v_outcome varchar(12) character set ascii;
        declare v_outcomes text character set ascii default '';
        declare v_payment_id char(36) character set ascii collate ascii_bin;
        declare v_user_uuid char(36) character set ascii collate ascii_bin;
        declare v_order_id varchar(64) character set ascii collate ascii_bin;
        declare v_account_no char(14) character set ascii;
        declare v_cash_amount decimal(20,0);
        declare v_point_amount decimal(20,0);
        declare v_merchant varchar(100);
        declare v_status varchar(10) character set ascii;
        declare v_attempts int;
        declare v_next_attempt_at datetime(3);
        declare v_created_at datetime(3);
        declare v_settled_at datetime(3);
        declare v_deduct decimal(20,0);
        declare v_use_id char(36) character set ascii collate ascii_bin;
        declare v_outbox_id char(36) character set ascii collate ascii_bin;
        declare v_outbox_topic varchar(249);
        declare v_outbox_key varchar(255);
        declare v_outbox_payload varchar(3999);
        declare v_idem_key varchar(64) character set ascii collate ascii_bin;
        declare v_request_hash char(64) character set ascii collate ascii_bin;
        declare v_key_status int;
        declare v_key_body varchar(1999);
        declare items cursor for
          select payment_id, user_uuid, order_id, account_no, cash_amount, point_amount, merchant,
                 status, attempts, next_attempt_at, created_at, settled_at, deduct, use_id,
                 outbox_id, outbox_topic, outbox_key, outbox_payload, idem_key, request_hash, key_status, key_body
          from json_table(p_items, '$[*]' columns (
            item for ordinality,
            payment_id varchar(40) path '$.paymentId',
            user_uuid varchar(40) path '$.userUuid',
            order_id varchar(80) path '$.orderId',
            account_no varchar(20) path '$.accountNo',
            cash_amount varchar(40) path '$.cashAmount',
            point_amount varchar(40) path '$.pointAmount',
            merchant varchar(120) path '$.merchant',
            status varchar(20) path '$.status',
            attempts varchar(20) path '$.attempts',
            next_attempt_at varchar(40) path '$.nextAttemptAt',
            created_at varchar(40) path '$.createdAt',
            settled_at varchar(40) path '$.settledAt',
            deduct varchar(40) path '$.deduct',
            use_id varchar(40) path '$.useId',
            outbox_id varchar(40) path '$.outboxId',
            outbox_topic varchar(260) path '$.outboxTopic',
            outbox_key varchar(270) path '$.outboxKey',
            outbox_payload varchar(4000) path '$.outboxPayload',
            idem_key varchar(80) path '$.idemKey',
            request_hash varchar(80) path '$.requestHash',
            key_status varchar(20) path '$.keyStatus',
            key_body varchar(2000) path '$.keyBody')) as batch
          order by item;
        declare continue handler for not found set v_done = true;
        declare exit handler for sqlexception
        begin
          rollback;
          resignal;
        end;
        -- READ COMMITTED, as the repository's other transactions: under REPEATABLE READ
        -- the first read would fix one snapshot for the whole batch, and a later item
        -- would not see a payment or key committed since (its checks read current rows).
        set transaction isolation level read committed;
        start transaction;
        open items;
        each_item: loop
          fetch items into v_payment_id, v_user_uuid, v_order_id, v_account_no, v_cash_amount,
            v_point_amount, v_merchant, v_status, v_attempts, v_next_attempt_at, v_created_at,
            v_settled_at, v_deduct, v_use_id, v_outbox_id, v_outbox_topic, v_outbox_key, v_outbox_payload,
            v_idem_key, v_request_hash, v_key_status, v_key_body;
          if v_done then
            leave each_item;
          end if;
          set v_outcome = 'STARTED';
          savepoint item_start;
          one_item: begin
            declare exit handler for 1062
            begin
              rollback to savepoint item_start;
              set v_outcome = 'DUPLICATE';
            end;
            -- The wallet row lock orders one user's payments, attempts of one payment included.
            select count(*) into v_existing from point_wallets where user_uuid = v_user_uuid for update;
            select count(*) into v_existing from payments where payment_id = v_payment_id;
            if v_existing > 0 then
              set v_outcome = 'EXISTS';
              leave one_item;
            end if;
            if v_idem_key is not null then
              -- The Idempotency-Key is bound with the payment, to the answer it gets.
              select count(*) into v_existing from idempotency_keys
                where user_uuid = v_user_uuid and idem_key = v_idem_key;
              if v_existing > 0 then
                set v_outcome = 'KEY_TAKEN';
                leave one_item;
              end if;
              insert into idempotency_keys (user_uuid, idem_key, request_hash, operation_id, state,
                                            status_code, response_body, locked_until)
                values (v_user_uuid, v_idem_key, v_request_hash, v_payment_id, 'DONE',
                        v_key_status, v_key_body, v_created_at);
            end if;
            if v_deduct > 0 then
              update point_wallets set balance = (@point_balance_after := balance - v_deduct)
                where user_uuid = v_user_uuid and balance >= v_deduct;
              if row_count() <> 1 then
                -- The key's row, if any, goes too: the caller binds the key to the refusal.
                rollback to savepoint item_start;
                set v_outcome = 'INSUFFICIENT';
                leave one_item;
              end if;
              insert into point_history (id, user_uuid, type, amount, balance_after, payment_id)
                values (v_use_id, v_user_uuid, 'USE', v_deduct, @point_balance_after, v_payment_id);
            end if;
            insert into payments (payment_id, user_uuid, order_id, account_no, cash_amount, point_amount,
                                  merchant, status, failure_code, attempts, next_attempt_at, stuck_at,
                                  created_at, settled_at)
              values (v_payment_id, v_user_uuid, v_order_id, v_account_no, v_cash_amount, v_point_amount,
                      v_merchant, v_status, null, v_attempts, v_next_attempt_at, null,
                      v_created_at, v_settled_at);
            if v_outbox_id is not null then
              insert into outbox (id, topic, \`key\`, payload)
                values (v_outbox_id, v_outbox_topic, v_outbox_key, v_outbox_payload);
            end if;
          end one_item;
          release savepoint item_start;
          set v_outcomes = concat(v_outcomes, if(v_outcomes = '', '', ','), v_outcome);
        end loop;
        close items;
        commit;
        select v_outcomes as outcomes;
      end`.execute(db);
  },
  down: async (db) => {
    // Back to 0004's procedure.
    await sql`drop procedure start_payments`.execute(db);
    await startPaymentsBatch.up(db);
  },
};

/**
 * A charge's row gets a fresh id, in the order it was written, and its
 * operation id (what finds a charge applied before, on a retry) moves to a
 * column of its own: a charge retried an hour after a 5xx was written with
 * its first attempt's id, and so listed below the hour's payments in a
 * history read newest first. Rows written before keep their id; their
 * charge id is that id, so a retry of one is still found.
 */
const historyChargeId: Migration = {
  async up(db) {
    await sql`alter table point_history
      add column charge_id char(36) character set ascii collate ascii_bin null,
      add unique key point_history_charge (charge_id)`.execute(db);
    await sql`update point_history set charge_id = id where type = 'CHARGE'`.execute(db);
  },
  async down(db) {
    await sql`alter table point_history drop key point_history_charge, drop column charge_id`.execute(db);
  },
};

/**
 * History in the order it was written, per wallet: a number the database
 * gives each row as it is inserted, always after the wallet's row lock
 * (a charge, a payment's USE, a refund), so one wallet's rows are numbered in
 * the order they committed. Ordering by id was not that: a payment's USE id
 * is made when the request arrives, before it waits in a group-commit lane,
 * and a charge committed meanwhile was listed as newer than the USE whose
 * balance already counted it. Rows written before are numbered in their id
 * order (the table is rebuilt in primary-key order; ALGORITHM=COPY, so the
 * table takes no writes while it runs).
 */
const historySeq: Migration = {
  async up(db) {
    await sql`alter table point_history
      add column seq bigint unsigned not null auto_increment,
      add unique key point_history_seq (seq),
      add key point_history_user_seq (user_uuid, seq),
      drop key point_history_user`.execute(db);
  },
  async down(db) {
    await sql`alter table point_history
      add key point_history_user (user_uuid, id),
      drop key point_history_user_seq,
      drop key point_history_seq,
      drop column seq`.execute(db);
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
  '0002_start_payment_procedure': startPaymentProcedure,
  '0003_start_payment_existing_first': startPaymentExistingFirst,
  '0004_start_payments_batch': startPaymentsBatch,
  '0005_start_payments_in_memory': startPaymentsInMemory,
  '0006_history_charge_id': historyChargeId,
  '0007_history_seq': historySeq,
};
