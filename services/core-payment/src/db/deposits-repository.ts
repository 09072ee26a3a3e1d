import assert from 'node:assert/strict';
import { inTransaction } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { enqueueOutbox, type OutboxMessage } from '@nuri/platform/kafka/outbox';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql, type Transaction } from 'kysely';
import {
  type DepositFailureCode,
  type DepositOutcome,
  type DepositRequest,
  type PlannedDeposit,
  planDeposits,
} from '../domain/deposits.ts';
import type { Movement } from '../domain/ledger.ts';
import type { ServiceDb } from './database.ts';
import { appendMovements, lockAccounts, setBalances } from './ledger-writer.ts';

export interface DepositEvent {
  eventId: string;
  correlationId: string;
  /** For the deposit.settled answer: the request's trace (ConsumedEvent.traceparent). */
  traceparent?: string;
  request: DepositRequest;
}

export interface SettleDepositsInput {
  events: readonly DepositEvent[];
  /** Builds the deposit.settled messages for the outcomes (fresh and repeated alike). */
  announce: (settled: ReadonlyArray<{ event: DepositEvent; outcome: DepositOutcome }>) => OutboxMessage[];
}

/**
 * Settles a batch of deposit requests in ONE transaction with a fixed handful
 * of statements, whatever the batch size: account locks (in account order, so
 * concurrent batches cannot deadlock), earlier outcomes, ledger rows,
 * balances, outcomes, outbox. Returns the number of deposits newly applied.
 *
 * No inbox row per event: the deposit id is the key that makes a deposit
 * count once. Its outcome row is read after the account locks are held, so a
 * second delivery of the same deposit (a redelivery, channel-user's resend, a
 * member still finishing a batch after a rebalance) waits for the first
 * transaction on the account's row lock and then finds its outcome — answered
 * again, applied never. A deposit to an account that does not exist takes no
 * lock: two deliveries may both decide FAILED, and the second outcome row is
 * dropped by its key (the same decision, nothing moved).
 */
export function settleDeposits(db: Kysely<ServiceDb>, input: SettleDepositsInput): Promise<number> {
  return inTransaction(db, async (trx) => {
    // The consumer hands over each event id once per batch (consumer.ts).
    const events = input.events;
    if (events.length === 0) return 0;
    const requests = events.map((event) => event.request);
    const accounts = await lockAccounts(
      trx,
      requests.map((request) => request.accountNo),
    );
    const settledBefore = await findOutcomes(
      trx,
      requests.map((request) => request.depositId),
    );
    const plan = planDeposits(accounts, requests, settledBefore);
    const applied = plan.deposits.filter((deposit) => deposit.fresh);
    await setBalances(trx, plan.balances);
    await appendMovements(trx, applied.flatMap(toMovement));
    await insertOutcomes(trx, applied);
    // planDeposits answers each request in order, so plan.deposits[i] belongs to events[i].
    await enqueueOutbox(
      trx,
      input.announce(
        plan.deposits.map((deposit, index) => ({ event: events[index]!, outcome: deposit.outcome })),
      ),
    );
    return applied.filter((deposit) => deposit.outcome.status === 'COMPLETED').length;
  });
}

async function findOutcomes(
  trx: Transaction<ServiceDb>,
  depositIds: string[],
): Promise<Map<string, DepositOutcome>> {
  const rows = await sql<{
    deposit_id: string;
    account_no: string;
    status: 'COMPLETED' | 'FAILED';
    failure_code: string | null;
    balance_after: string | null;
  }>`select deposit_id, account_no, status, failure_code, balance_after
     from deposits where deposit_id = any(${[...new Set(depositIds)]}::uuid[])`.execute(trx);
  const outcomes = new Map<string, DepositOutcome>();
  for (const row of rows.rows) {
    const base = { depositId: row.deposit_id, accountNo: row.account_no };
    outcomes.set(
      row.deposit_id,
      row.status === 'COMPLETED'
        ? { ...base, status: 'COMPLETED', balanceAfter: parseDbAmount(row.balance_after ?? '') }
        : { ...base, status: 'FAILED', failureCode: row.failure_code as DepositFailureCode },
    );
  }
  return outcomes;
}

function toMovement(deposit: PlannedDeposit): Movement[] {
  const { outcome, request } = deposit;
  if (outcome.status !== 'COMPLETED') return [];
  return [
    {
      transactionId: uuidv7(),
      type: 'DEPOSIT',
      reference: request.depositId,
      accountNo: request.accountNo,
      amount: request.amount,
      balanceAfter: outcome.balanceAfter,
    },
  ];
}

async function insertOutcomes(
  trx: Transaction<ServiceDb>,
  deposits: readonly PlannedDeposit[],
): Promise<void> {
  if (deposits.length === 0) return;
  const column = <T>(pick: (deposit: PlannedDeposit) => T) => deposits.map(pick);
  const inserted = await sql<{ deposit_id: string }>`
    insert into deposits (deposit_id, account_no, user_uuid, amount, status, failure_code, balance_after)
    select * from unnest(
      ${column((d) => d.request.depositId)}::uuid[], ${column((d) => d.request.accountNo)}::text[],
      ${column((d) => d.request.userUuid)}::uuid[], ${column((d) => d.request.amount.toString())}::numeric[],
      ${column((d) => d.outcome.status)}::text[],
      ${column((d) => (d.outcome.status === 'FAILED' ? d.outcome.failureCode : null))}::text[],
      ${column((d) => (d.outcome.status === 'COMPLETED' ? d.outcome.balanceAfter.toString() : null))}::numeric[])
      as outcome (deposit_id, account_no, user_uuid, amount, status, failure_code, balance_after)
    -- In id order: two batches that meet on missing accounts (no lock taken) wait for each other's rows in one order, never in a cycle.
    order by deposit_id
    on conflict (deposit_id) do nothing
    returning deposit_id`.execute(trx);
  // Only a FAILED decision on an account that takes no lock can meet a
  // concurrent twin; a COMPLETED one held its account's lock while it read
  // the outcomes, so a conflict there would mean a deposit applied twice.
  const written = new Set(inserted.rows.map((row) => row.deposit_id));
  const twice = deposits.find((d) => d.outcome.status === 'COMPLETED' && !written.has(d.request.depositId));
  assert.ok(
    twice === undefined,
    `deposit ${twice?.request.depositId} was already settled by another transaction`,
  );
}
