import type { Database } from '@nuri/platform/db';
import type { IdempotencyDatabase } from '@nuri/platform/idempotency';
import type { InboxDatabase } from '@nuri/platform/kafka/inbox';
import type { OutboxDatabase } from '@nuri/platform/kafka/outbox';
import { openMysql } from '@nuri/platform/service';
import type { ColumnType, Generated } from 'kysely';
import type { Config } from '../config.ts';
import type { PointEntryType } from '../domain/points.ts';

/** DECIMAL(20,0): mysql2 hands it back as a string (bigNumberStrings); we write bigint or string. */
type Money = ColumnType<string, bigint | string, bigint | string>;

export interface PointWalletsTable {
  user_uuid: string;
  balance: Money;
  updated_at: Generated<Date>;
}

export interface PointHistoryTable {
  id: string;
  user_uuid: string;
  type: PointEntryType;
  amount: Money;
  balance_after: Money;
  payment_id: string | null;
  /** A CHARGE row's operation id (the Idempotency-Key's), which finds it again on a retry. */
  charge_id: string | null;
  /** The order rows were written in, per wallet (given under the wallet's lock); BIGINT, read as a string. */
  seq: Generated<string>;
  created_at: Generated<Date>;
}

export interface PaymentsTable {
  payment_id: string;
  user_uuid: string;
  order_id: string;
  account_no: string;
  cash_amount: Money;
  point_amount: Money;
  merchant: string | null;
  status: 'PENDING' | 'COMPLETED' | 'FAILED';
  failure_code: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  stuck_at: Date | null;
  created_at: Date;
  settled_at: Date | null;
}

/** The tables of point's own database. */
export type ServiceDb = OutboxDatabase &
  InboxDatabase &
  IdempotencyDatabase & {
    point_wallets: PointWalletsTable;
    point_history: PointHistoryTable;
    payments: PaymentsTable;
  };

export function openDatabase(config: Config): Database<ServiceDb> {
  return openMysql(config, config.NURI_POINT_DB);
}
