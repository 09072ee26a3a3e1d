import assert from 'node:assert/strict';
import { createEvent, type EventOf, messageKey } from '@nuri/contracts/events';
import { type DepositTotals, depositIdsMax } from '@nuri/contracts/reconciliation';
import { AppError } from '@nuri/platform/errors';
import { createGroupCommit, GroupCommitFullError } from '@nuri/platform/group-commit';
import { keyRow, keyTaken } from '@nuri/platform/idempotency';
import type { OutboxNotifier } from '@nuri/platform/kafka/outbox';
import { amountToJson, parseDbAmount } from '@nuri/platform/money';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { Deposit, DepositKey, DepositSettlement, DepositStore } from '../domain/deposits.ts';
import { eventSource } from '../events/topics.ts';
import type { DepositsTable, ServiceDb } from './database.ts';

/** How deposit acceptance groups its writes (see group-commit.ts). */
export interface DepositWriteLimits {
  batchSizeMax: number;
  queueLengthMax: number;
  writesInFlightMax: number;
}

export const defaultDepositWriteLimits: DepositWriteLimits = {
  batchSizeMax: 500,
  queueLengthMax: 10_000,
  writesInFlightMax: 4,
};

interface DepositToWrite {
  deposit: Deposit;
  event: EventOf<'deposit.requested'>;
  /** The Idempotency-Key's row, written in the same statement; the deposit only if it went in. */
  keyRow: ReturnType<typeof keyRow> | undefined;
}

/** The item's outcome: the deposit, or its key was bound already and nothing was written. */
type WriteOutcome = Deposit | typeof keyTaken;

export function createDepositStore(
  db: Kysely<ServiceDb>,
  depositRequestedTopic: string,
  limits: DepositWriteLimits = defaultDepositWriteLimits,
  notifier?: OutboxNotifier,
): DepositStore {
  // Concurrent requests are written together: the rows and their outbox
  // events of a whole batch in one statement, so one commit (one WAL flush,
  // one round trip) accepts many deposits. Each request still resolves
  // only once its own row has committed.
  const writes = createGroupCommit<DepositToWrite, WriteOutcome>({
    name: 'deposits',
    batchSizeMax: limits.batchSizeMax,
    queueLengthMax: limits.queueLengthMax,
    concurrency: limits.writesInFlightMax,
    run: (batch) => writeDeposits(batch),
  });

  async function writeDeposits(batch: readonly DepositToWrite[]): Promise<WriteOutcome[]> {
    // The same id twice in one batch (a retry racing its original) is written
    // once, by the first; the other gets that deposit, as a later retry would.
    const writers = new Map<string, DepositToWrite>();
    for (const item of batch) {
      if (!writers.has(item.deposit.depositId)) writers.set(item.deposit.depositId, item);
    }
    const unique = [...writers.values()];
    const column = <T>(pick: (item: DepositToWrite) => T) => unique.map(pick);
    // One statement, so one transaction: every row and its outbox event (the
    // platform's outbox table) commit together or not at all. No NOTIFY: it
    // makes commits take a database-wide lock one at a time, which would cap
    // deposits; this instance's relay is woken in process instead, and the
    // relay polls for other instances' rows. The foreign key to
    // account_links refuses an unlinked account. An id already taken (a
    // retry of a deposit accepted before) writes neither row nor event.
    // The key rows go first: an item whose key was bound already (a repeat,
    // or a twin in this very batch) writes neither deposit nor event.
    const written = await sql<{ kind: 'deposit' | 'key'; id: string }>`
      with input as (
        select * from unnest(
          ${column((item) => item.deposit.depositId)}::uuid[],
          ${column((item) => item.deposit.accountNo)}::char(14)[],
          ${column((item) => item.deposit.userUuid)}::uuid[],
          ${column((item) => item.deposit.amount.toString())}::numeric[],
          ${column((item) => item.deposit.requestedAt.toISOString())}::timestamptz[],
          ${column((item) => item.event.id)}::uuid[],
          ${column((item) => messageKey(item.event))}::text[],
          ${column((item) => JSON.stringify(item.event))}::text[],
          ${column((item) => item.keyRow?.idem_key ?? null)}::varchar[],
          ${column((item) => item.keyRow?.request_hash ?? null)}::char(64)[],
          ${column((item) => item.keyRow?.status_code ?? null)}::integer[],
          ${column((item) => item.keyRow?.response_body ?? null)}::text[]
        ) with ordinality as input (deposit_id, account_no, user_uuid, amount, requested_at, event_id, event_key,
                                    payload, idem_key, request_hash, status_code, response_body, arrival)
      ), bound as (
        insert into idempotency_keys (user_uuid, idem_key, request_hash, operation_id, state, status_code,
                                      response_body, locked_until)
        select user_uuid, idem_key, request_hash, deposit_id, 'DONE', status_code, response_body, now()
        from input where idem_key is not null
        -- In key order, bytewise as the platform's byUserAndKey sorts its claims
        -- (twins in arrival order): two batches in flight holding the same two
        -- keys lock them in one order instead of deadlocking.
        order by user_uuid, idem_key collate "C", arrival
        on conflict do nothing
        returning operation_id
      ), deposit as (
        insert into deposits (deposit_id, account_no, user_uuid, amount, status, requested_at)
        select deposit_id, account_no, user_uuid, amount, 'PENDING', requested_at from input
        where idem_key is null or deposit_id in (select operation_id from bound)
        on conflict (deposit_id) do nothing
        returning deposit_id
      ), event as (
        insert into outbox (id, topic, key, payload)
        select input.event_id, ${depositRequestedTopic}, input.event_key, input.payload
        from input join deposit using (deposit_id)
      )
      select 'deposit' as kind, deposit_id as id from deposit
      union all
      select 'key' as kind, operation_id as id from bound`.execute(db);
    const boundIds = new Set(written.rows.filter((row) => row.kind === 'key').map((row) => row.id));
    const isTaken = (item: DepositToWrite) =>
      item.keyRow !== undefined && !boundIds.has(item.deposit.depositId);
    const fresh = new Set(written.rows.filter((row) => row.kind === 'deposit').map((row) => row.id));
    // Committed: this instance's relay (if it holds the lease) sends them now rather than at its next scan.
    if (fresh.size > 0) notifier?.notify();
    const taken = unique.filter((item) => !fresh.has(item.deposit.depositId) && !isTaken(item));
    const existing = taken.length === 0 ? new Map<string, Deposit>() : await findAll(taken);
    return batch.map((item) => {
      if (isTaken(item)) return keyTaken;
      const writer = writers.get(item.deposit.depositId);
      if (writer !== undefined && fresh.has(item.deposit.depositId)) return writer.deposit;
      // The id was taken: a retry of a deposit already accepted (its event is already queued).
      const deposit = existing.get(item.deposit.depositId);
      assert.ok(
        deposit !== undefined && deposit.userUuid === item.deposit.userUuid,
        'a deposit id taken by another user',
      );
      return deposit;
    });
  }

  async function findAll(items: readonly DepositToWrite[]): Promise<Map<string, Deposit>> {
    const rows = await db
      .selectFrom('deposits')
      .selectAll()
      .where(
        'deposit_id',
        'in',
        items.map((item) => item.deposit.depositId),
      )
      .execute();
    return new Map(rows.map((row) => [row.deposit_id, toDeposit(row)]));
  }

  function submit(
    deposit: Deposit,
    correlationId: string,
    key: DepositKey | undefined,
  ): Promise<WriteOutcome> {
    const event = createEvent(
      'deposit.requested',
      {
        depositId: deposit.depositId,
        accountNo: deposit.accountNo,
        userUuid: deposit.userUuid,
        amount: amountToJson(deposit.amount),
        requestedAt: deposit.requestedAt.toISOString(),
      },
      { source: eventSource, correlationId },
    );
    const row = key === undefined ? undefined : keyRow(key.binding, deposit.depositId, key.answer(deposit));
    return writes.submit({ deposit, event, keyRow: row }).catch((error: unknown) => {
      // Nothing was accepted: the client may come back shortly.
      if (error instanceof GroupCommitFullError) {
        throw new AppError(
          'SERVICE_UNAVAILABLE',
          503,
          'Too many requests are waiting to be written; retry shortly',
        );
      }
      throw error;
    });
  }

  return {
    request(deposit, correlationId) {
      return submit(deposit, correlationId, undefined) as Promise<Deposit>;
    },

    requestKeyed(deposit, correlationId, key) {
      return submit(deposit, correlationId, key);
    },

    async find(depositId, userUuid): Promise<Deposit | undefined> {
      const row = await db
        .selectFrom('deposits')
        .selectAll()
        .where('deposit_id', '=', depositId)
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      return row === undefined ? undefined : toDeposit(row);
    },
  };
}

function toDeposit(row: Selectable<DepositsTable>): Deposit {
  return {
    depositId: row.deposit_id,
    accountNo: row.account_no,
    userUuid: row.user_uuid,
    amount: parseDbAmount(row.amount),
    status: row.status,
    balanceAfter: row.balance_after === null ? null : parseDbAmount(row.balance_after),
    failureCode: row.failure_code,
    requestedAt: row.requested_at,
    settledAt: row.settled_at,
  };
}

/**
 * Applies settlements in one statement per batch. A deposit leaves PENDING
 * once (the update only touches PENDING rows), which is all "once" needs: a
 * redelivered or repeated settlement finds the deposit settled and changes
 * nothing, with no inbox row per event to write and prune. A second,
 * different outcome for a deposit would be a core bug and is ignored rather
 * than overwriting what the client saw. Returns how many deposits changed.
 */
export async function settleDeposits(
  db: Kysely<ServiceDb>,
  settlements: readonly DepositSettlement[],
): Promise<number> {
  // The first outcome per deposit wins, as if applied one by one.
  const firstPerDeposit = new Map<string, DepositSettlement>();
  for (const settlement of settlements) {
    if (!firstPerDeposit.has(settlement.depositId)) firstPerDeposit.set(settlement.depositId, settlement);
  }
  const applied = [...firstPerDeposit.values()];
  if (applied.length === 0) return 0;
  // One statement for the batch rather than one round trip per deposit.
  const column = <T>(pick: (settlement: DepositSettlement) => T) => applied.map(pick);
  const result = await sql`
    update deposits set
      status = settled.status,
      balance_after = settled.balance_after,
      failure_code = settled.failure_code,
      settled_at = settled.settled_at
    from unnest(
      ${column((settlement) => settlement.depositId)}::uuid[],
      ${column((settlement) => settlement.status)}::varchar[],
      ${column((settlement) => settlement.balanceAfter?.toString() ?? null)}::numeric[],
      ${column((settlement) => settlement.failureCode)}::varchar[],
      ${column((settlement) => settlement.settledAt.toISOString())}::timestamptz[]
    ) as settled (deposit_id, status, balance_after, failure_code, settled_at)
    where deposits.deposit_id = settled.deposit_id and deposits.status = 'PENDING'`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * The deposits of an id range by status, for reconciliation with the core
 * (contracts/reconciliation.ts): counts and sums, and with `detail` the ids.
 */
export async function depositTotals(
  db: Kysely<ServiceDb>,
  range: { from: string; to: string; detail: boolean },
): Promise<DepositTotals> {
  const totals = await sql<{ status: string; count: string; amount: string }>`
    select status, count(*) as count, coalesce(sum(amount), 0) as amount from deposits
    where deposit_id >= ${range.from}::uuid and deposit_id < ${range.to}::uuid
    group by status`.execute(db);
  const byStatus: DepositTotals['byStatus'] = {};
  for (const row of totals.rows) byStatus[row.status] = { count: Number(row.count), amount: row.amount };
  if (!range.detail) return { byStatus };
  const rows = await sql<{ deposit_id: string; status: string }>`
    select deposit_id, status from deposits
    where deposit_id >= ${range.from}::uuid and deposit_id < ${range.to}::uuid
    order by deposit_id limit ${depositIdsMax}`.execute(db);
  const ids: Record<string, string[]> = {};
  for (const row of rows.rows) {
    const list = ids[row.status] ?? [];
    list.push(row.deposit_id);
    ids[row.status] = list;
  }
  return { byStatus, ids };
}
