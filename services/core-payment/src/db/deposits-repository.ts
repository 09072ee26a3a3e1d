import { inTransaction } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { recordInbox } from '@nuri/platform/kafka/inbox';
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
  consumer: string;
  events: readonly DepositEvent[];
  /** Builds the deposit.settled messages for the outcomes (fresh and repeated alike). */
  announce: (settled: ReadonlyArray<{ event: DepositEvent; outcome: DepositOutcome }>) => OutboxMessage[];
}

/**
 * Settles a batch of deposit requests in ONE transaction with a fixed handful
 * of statements, whatever the batch size: inbox, earlier outcomes, account
 * locks (in account order, so concurrent batches cannot deadlock), ledger
 * rows, balances, outcomes, outbox. Returns the number of deposits newly applied.
 */
export function settleDeposits(db: Kysely<ServiceDb>, input: SettleDepositsInput): Promise<number> {
  return inTransaction(db, async (trx) => {
    const freshIds = new Set(
      await recordInbox(
        trx,
        input.consumer,
        input.events.map((event) => event.eventId),
      ),
    );
    // An event id seen twice in one batch is one delivery; keep the first.
    const seen = new Set<string>();
    const events = input.events.filter((event) => {
      if (!freshIds.has(event.eventId) || seen.has(event.eventId)) return false;
      seen.add(event.eventId);
      return true;
    });
    if (events.length === 0) return 0;
    const requests = events.map((event) => event.request);
    const settledBefore = await findOutcomes(
      trx,
      requests.map((request) => request.depositId),
    );
    const accounts = await lockAccounts(
      trx,
      requests.map((request) => request.accountNo),
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
  await sql`
    insert into deposits (deposit_id, account_no, user_uuid, amount, status, failure_code, balance_after)
    select * from unnest(
      ${column((d) => d.request.depositId)}::uuid[], ${column((d) => d.request.accountNo)}::text[],
      ${column((d) => d.request.userUuid)}::uuid[], ${column((d) => d.request.amount.toString())}::numeric[],
      ${column((d) => d.outcome.status)}::text[],
      ${column((d) => (d.outcome.status === 'FAILED' ? d.outcome.failureCode : null))}::text[],
      ${column((d) => (d.outcome.status === 'COMPLETED' ? d.outcome.balanceAfter.toString() : null))}::numeric[])`.execute(
    trx,
  );
}
