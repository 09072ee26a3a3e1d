import assert from 'node:assert/strict';
import { createEvent, messageKey } from '@nuri/contracts/events';
import { recordInbox } from '@nuri/platform/kafka/inbox';
import { amountToJson, parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql } from 'kysely';
import type { Deposit, DepositSettlement, DepositStore } from '../domain/deposits.ts';
import { eventSource } from '../events/topics.ts';
import type { ServiceDb } from './database.ts';

export function createDepositStore(db: Kysely<ServiceDb>, depositRequestedTopic: string): DepositStore {
  const store: DepositStore = {
    async request(deposit, correlationId) {
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
      // One statement, so one transaction and one round trip: the row and its
      // outbox event (the platform's outbox table) commit together or not at
      // all. No NOTIFY: it makes commits take a database-wide lock one at a
      // time, which would cap deposits; the relay polls every few ms instead.
      // The foreign key to account_links refuses an unlinked account.
      const written = await sql`
        with deposit as (
          insert into deposits (deposit_id, account_no, user_uuid, amount, status, requested_at)
          values (${deposit.depositId}, ${deposit.accountNo}, ${deposit.userUuid},
                  ${deposit.amount.toString()}, 'PENDING', ${deposit.requestedAt})
          on conflict (deposit_id) do nothing
          returning deposit_id
        )
        insert into outbox (id, topic, key, payload)
        select ${event.id}, ${depositRequestedTopic}, ${messageKey(event)}, ${JSON.stringify(event)}
        from deposit`.execute(db);
      if (Number(written.numAffectedRows ?? 0n) === 1) return deposit;
      // The id was taken: this is a retry of a deposit already accepted (its event is already queued).
      const existing = await store.find(deposit.depositId, deposit.userUuid);
      assert.ok(existing !== undefined, 'a deposit id taken by another user');
      return existing;
    },

    async find(depositId, userUuid): Promise<Deposit | undefined> {
      const row = await db
        .selectFrom('deposits')
        .selectAll()
        .where('deposit_id', '=', depositId)
        .where('user_uuid', '=', userUuid)
        .executeTakeFirst();
      if (row === undefined) return undefined;
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
    },
  };
  return store;
}

/**
 * Applies settlements once each (inbox) in one transaction per batch. A
 * deposit leaves PENDING once; a second, different outcome for it would be a
 * core bug and is ignored rather than overwriting what the client saw.
 * Returns how many deposits changed.
 */
export async function settleDeposits(
  db: Kysely<ServiceDb>,
  consumer: string,
  settlements: readonly DepositSettlement[],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const fresh = new Set(
      await recordInbox(
        trx,
        consumer,
        settlements.map((settlement) => settlement.eventId),
      ),
    );
    let changed = 0;
    for (const settlement of settlements) {
      if (!fresh.has(settlement.eventId)) continue;
      const result = await trx
        .updateTable('deposits')
        .set({
          status: settlement.status,
          balance_after: settlement.balanceAfter === null ? null : settlement.balanceAfter.toString(),
          failure_code: settlement.failureCode,
          settled_at: settlement.settledAt,
        })
        .where('deposit_id', '=', settlement.depositId)
        .where('status', '=', 'PENDING')
        .executeTakeFirst();
      changed += Number(result.numUpdatedRows);
    }
    return changed;
  });
}
