import type { Database } from '@nuri/platform/db';
import type { InboxDatabase } from '@nuri/platform/kafka/inbox';
import type { OutboxDatabase } from '@nuri/platform/kafka/outbox';
import { openPostgres } from '@nuri/platform/service';
import type { ColumnType, Generated } from 'kysely';
import type { Config } from '../config.ts';

/** NUMERIC(20,0): pg hands it back as a string; we write bigint or string. */
type Money = ColumnType<string, bigint | string, bigint | string>;
type NullableMoney = ColumnType<string | null, bigint | string | null, bigint | string | null>;

export interface AccountsTable {
  account_no: string;
  user_uuid: string;
  alias: string | null;
  balance: ColumnType<string, bigint | string | undefined, bigint | string>;
  currency: Generated<string>;
  status: Generated<'ACTIVE' | 'CLOSED'>;
  opened_at: Generated<Date>;
  closed_at: Date | null;
  /** The caller's key for the opening (unique per user), so a retried open finds its account. */
  open_key: string | null;
}

export interface LedgerTransactionsTable {
  id: string;
  type: string;
  reference: string;
  account_no: string;
  amount: Money;
  created_at: Generated<Date>;
}

export interface LedgerEntriesTable {
  id: string;
  transaction_id: string;
  account_no: string;
  side: 'DEBIT' | 'CREDIT';
  type: string;
  amount: Money;
  balance_after: NullableMoney;
  reference: string;
  created_at: Generated<Date>;
  /**
   * The entry's place in its account's statement, taken by the INSERT under
   * the account's lock (bigint; pg hands it back as a string). GENERATED
   * ALWAYS, so it is never written.
   */
  seq: ColumnType<string, never, never>;
}

export interface WithdrawalsTable {
  withdrawal_id: string;
  user_uuid: string;
  idempotency_key: string;
  account_no: string;
  amount: Money;
  status: 'SUCCEEDED' | 'REJECTED';
  failure_code: string | null;
  balance_after: NullableMoney;
  created_at: Generated<Date>;
}

export interface DepositsTable {
  deposit_id: string;
  account_no: string;
  user_uuid: string;
  amount: Money;
  status: 'COMPLETED' | 'FAILED';
  failure_code: string | null;
  balance_after: NullableMoney;
  settled_at: Generated<Date>;
}

export interface PaymentsTable {
  payment_id: string;
  user_uuid: string;
  account_no: string;
  amount: Money;
  order_id: string;
  status: 'SUCCEEDED' | 'FAILED';
  failure_code: string | null;
  balance_after: NullableMoney;
  settled_at: Generated<Date>;
}

export interface TransfersTable {
  transfer_id: string;
  user_uuid: string;
  idempotency_key: string;
  from_account_no: string;
  to_account_no: string;
  amount: Money;
  memo: string | null;
  status: 'SUCCEEDED' | 'REJECTED';
  failure_code: string | null;
  balance_after: NullableMoney;
  created_at: Generated<Date>;
}

export interface TransferDailyTotalsTable {
  user_uuid: string;
  day: Date;
  total: Money;
}

export interface IssuedCouponsTable {
  coupon_id: string;
  campaign_id: string;
  user_uuid: string;
  code: string;
  issued_at: Date;
  recorded_at: Generated<Date>;
}

/** The tables of core-payment's own database. */
export type ServiceDb = OutboxDatabase &
  InboxDatabase & {
    accounts: AccountsTable;
    ledger_transactions: LedgerTransactionsTable;
    ledger_entries: LedgerEntriesTable;
    withdrawals: WithdrawalsTable;
    deposits: DepositsTable;
    payments: PaymentsTable;
    issued_coupons: IssuedCouponsTable;
    transfers: TransfersTable;
    transfer_daily_totals: TransferDailyTotalsTable;
  };

export function openDatabase(config: Config): Database<ServiceDb> {
  return openPostgres(config, config.NURI_CORE_PAYMENT_DB, 'core-payment');
}
