import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGroupCommit, GroupCommitFullError } from '@nuri/platform/group-commit';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql } from 'kysely';
import {
  balanceMax,
  type Transfer,
  type TransferItem,
  type TransferRefusal,
  type TransferResult,
  type TransferStore,
} from '../domain/transfers.ts';
import type { ServiceDb } from './database.ts';

export interface TransferBatching {
  /** Transfers applied by one transaction. */
  batchSizeMax: number;
  /** Transactions running at once (each on its own pooled connection). */
  lanes: number;
  /** Transfers waiting for a transaction; past it a request is refused as busy at once. */
  queueLengthMax: number;
}

export const defaultTransferBatching: TransferBatching = {
  batchSizeMax: 64,
  lanes: 1,
  queueLengthMax: 1_000,
};

type Outcome = 'SUCCEEDED' | 'REJECTED' | 'ACCOUNT_NOT_FOUND' | 'RECIPIENT_NOT_FOUND' | 'REPLAY';

interface BatchRow {
  item: number;
  outcome: Outcome;
  transfer_id: string | null;
  from_account_no: string | null;
  to_account_no: string | null;
  amount: string | null;
  memo: string | null;
  status: 'SUCCEEDED' | 'REJECTED' | null;
  failure_code: string | null;
  balance_after: string | null;
  created_at: Date | null;
}

// A deadlock with another writer (40P01) or a key claimed by another
// instance's batch at the same moment (23505) rolls the batch back whole; run
// again, it sees the other's work.
const retryableCodes = new Set(['40P01', '40001', '23505']);
const batchAttemptsMax = 3;
const retryBackoffMs = 5;

/**
 * Transfers through group commit, as withdrawals: concurrent requests are
 * gathered into batches, each ONE call of transfer_batch (migrations.ts),
 * one transaction whose commit its items share. Per item the rules are a
 * single transfer's (see TransferStore); the function locks in the one order
 * every writer uses, so A→B and B→A at once never deadlock.
 */
export function createTransferStore(
  db: Kysely<ServiceDb>,
  options: { dailyLimit: bigint; batching?: TransferBatching },
): TransferStore {
  const batching = options.batching ?? defaultTransferBatching;
  const batches = createGroupCommit<TransferItem, TransferResult>({
    name: 'transfers',
    batchSizeMax: batching.batchSizeMax,
    queueLengthMax: batching.queueLengthMax,
    concurrency: batching.lanes,
    // The sender's account: its transfers go through one lane, in arrival order.
    keyOf: (item) => item.fromAccountNo,
    run: (items) => transferBatch(db, items, options.dailyLimit),
  });
  return {
    async transfer(item) {
      try {
        return await batches.submit(item);
      } catch (error) {
        if (error instanceof GroupCommitFullError) return { kind: 'busy' };
        throw error;
      }
    },

    async findTransfer(transferId, userUuid) {
      const row = await db
        .selectFrom('transfers')
        .select([
          'transfer_id',
          'from_account_no',
          'to_account_no',
          'amount',
          'memo',
          'balance_after',
          'created_at',
        ])
        .where('transfer_id', '=', transferId)
        .where('user_uuid', '=', userUuid)
        .where('status', '=', 'SUCCEEDED')
        .executeTakeFirst();
      if (row === undefined || row.balance_after === null) return undefined;
      return {
        transferId: row.transfer_id,
        fromAccountNo: row.from_account_no,
        toAccountNo: row.to_account_no,
        amount: parseDbAmount(row.amount),
        balanceAfter: parseDbAmount(row.balance_after),
        memo: row.memo,
        createdAt: row.created_at,
      };
    },
  };
}

async function transferBatch(
  db: Kysely<ServiceDb>,
  items: readonly TransferItem[],
  dailyLimit: bigint,
): Promise<TransferResult[]> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const rows = await transferBatchStatement(db, items, dailyLimit);
      assert.equal(rows.length, items.length, 'transfer_batch answers one row per item');
      const results: TransferResult[] = new Array(items.length);
      for (const row of rows) results[row.item - 1] = toResult(row);
      return results;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= batchAttemptsMax || typeof code !== 'string' || !retryableCodes.has(code)) throw error;
      await sleep(retryBackoffMs * attempt * (1 + Math.random()));
    }
  }
}

function transferBatchStatement(db: Kysely<ServiceDb>, items: readonly TransferItem[], dailyLimit: bigint) {
  const column = <T>(pick: (item: TransferItem) => T) => items.map(pick);
  return sql<BatchRow>`
    select out_item as item, out_outcome as outcome, out_transfer_id as transfer_id,
           out_from as from_account_no, out_to as to_account_no, out_amount as amount, out_memo as memo,
           out_status as status, out_failure_code as failure_code, out_balance_after as balance_after,
           out_created_at as created_at
    from transfer_batch(${column((item) => item.transferId)}::uuid[], ${column((item) => item.transactionId)}::uuid[],
                        ${column((item) => item.entryIds[0])}::uuid[], ${column((item) => item.entryIds[1])}::uuid[],
                        ${column((item) => item.userUuid)}::uuid[], ${column((item) => item.idempotencyKey)}::varchar[],
                        ${column((item) => item.fromAccountNo)}::varchar[], ${column((item) => item.toAccountNo)}::varchar[],
                        ${column((item) => item.amount.toString())}::numeric[], ${column((item) => item.memo)}::varchar[],
                        ${dailyLimit.toString()}::numeric, ${balanceMax.toString()}::numeric)`
    .execute(db)
    .then((result) => result.rows);
}

function toResult(row: BatchRow): TransferResult {
  switch (row.outcome) {
    case 'SUCCEEDED':
      return { kind: 'succeeded', transfer: toTransfer(row) };
    case 'REJECTED':
      return { kind: 'refused', code: row.failure_code as TransferRefusal };
    case 'ACCOUNT_NOT_FOUND':
      return { kind: 'accountNotFound' };
    case 'RECIPIENT_NOT_FOUND':
      return { kind: 'recipientNotFound' };
    case 'REPLAY':
      return {
        kind: 'replay',
        stored: {
          transferId: row.transfer_id!,
          fromAccountNo: row.from_account_no!,
          toAccountNo: row.to_account_no!,
          amount: parseDbAmount(row.amount!),
          memo: row.memo,
          status: row.status!,
          failureCode: row.failure_code,
          balanceAfter: row.balance_after === null ? null : parseDbAmount(row.balance_after),
          createdAt: row.created_at!,
        },
      };
  }
}

function toTransfer(row: BatchRow): Transfer {
  return {
    transferId: row.transfer_id!,
    fromAccountNo: row.from_account_no!,
    toAccountNo: row.to_account_no!,
    amount: parseDbAmount(row.amount!),
    balanceAfter: parseDbAmount(row.balance_after!),
    memo: row.memo,
    createdAt: row.created_at!,
  };
}

/** Asia/Seoul days of daily totals kept before today's; older rows are deleted (see pruneTransferDailyTotals). */
export const transferTotalsKeptDays = 7;

/**
 * Deletes daily-total rows of Asia/Seoul days more than `keptDays` before
 * today, at most `batchSizeMax`; returns how many. transfer_batch reads and
 * writes only today's row, so an older one limits nothing: without this the
 * table would grow by a row per user for every day they transfer. What was
 * sent on a past day stays in `transfers` and the ledger.
 */
export async function pruneTransferDailyTotals(
  db: Kysely<ServiceDb>,
  keptDays: number,
  batchSizeMax: number,
): Promise<number> {
  const result = await sql`
    delete from transfer_daily_totals where (user_uuid, day) in (
      select user_uuid, day from transfer_daily_totals
      where day < (now() at time zone 'Asia/Seoul')::date - ${keptDays}::integer
      limit ${batchSizeMax})`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
