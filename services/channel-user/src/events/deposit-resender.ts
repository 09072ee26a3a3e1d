import { createEvent, messageKey } from '@nuri/contracts/events';
import { counterIn } from '@nuri/platform/kafka/metrics';
import { enqueueOutbox } from '@nuri/platform/kafka/outbox';
import type { Logger } from '@nuri/platform/logger';
import { amountToJson, parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql } from 'kysely';
import type { Registry } from 'prom-client';
import type { ServiceDb } from '../db/database.ts';
import { eventSource } from './topics.ts';

export interface DepositResenderOptions {
  db: Kysely<ServiceDb>;
  depositRequestedTopic: string;
  logger: Logger;
  registry?: Registry;
  /** A deposit PENDING this long after its request (or its last re-send) is sent again. */
  resendAfterMs: number;
  /** The wait between re-sends doubles up to this. */
  resendBackoffMaxMs: number;
  scanIntervalMs: number;
  batchSizeMax: number;
  now?: () => Date;
}

export interface DepositResender {
  start(): void;
  stop(): Promise<void>;
  /** One scan at `now`; returns how many requests were sent again. */
  runOnce(now?: Date): Promise<number>;
}

/**
 * A 202 promises the deposit will be applied. Its deposit.requested can still
 * go astray after the outbox published it — dead-lettered at the core, or a
 * topic lost with a broker — and then nothing would ever settle it. So a
 * deposit PENDING for `resendAfterMs` gets its request again: the same
 * deposit id under a new event id, which the core applies once (it answers a
 * deposit id it settled before with the outcome it stored). The wait doubles
 * after each re-send. Every instance runs the scan; it is safe with N of
 * them: each deposit is taken with FOR UPDATE SKIP LOCKED and its next re-send
 * time moves in the same transaction as its outbox row.
 */
export function createDepositResender(options: DepositResenderOptions): DepositResender {
  const { db, logger } = options;
  const now = options.now ?? (() => new Date());
  const resent =
    options.registry === undefined
      ? undefined
      : counterIn(
          options.registry,
          'nuri_channel_deposit_requests_resent_total',
          'deposit.requested sent again for a deposit still PENDING (alert when it grows)',
          [],
        );
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopping = false;

  async function runOnce(at: Date = now()): Promise<number> {
    const dueBefore = new Date(at.getTime() - options.resendAfterMs);
    const count = await db.transaction().execute(async (trx) => {
      const due = await sql<{
        deposit_id: string;
        account_no: string;
        user_uuid: string;
        amount: string;
        requested_at: Date;
        resends: number;
      }>`
        select deposit_id, account_no, user_uuid, amount, requested_at, resends from deposits
        where status = 'PENDING' and requested_at < ${dueBefore}
          and (next_resend_at is null or next_resend_at <= ${at})
        order by requested_at
        limit ${options.batchSizeMax}
        for update skip locked`.execute(trx);
      if (due.rows.length === 0) return 0;
      const messages = due.rows.map((row) => {
        const event = createEvent(
          'deposit.requested',
          {
            depositId: row.deposit_id,
            accountNo: row.account_no,
            userUuid: row.user_uuid,
            amount: amountToJson(parseDbAmount(row.amount)),
            requestedAt: row.requested_at.toISOString(),
          },
          { source: eventSource, correlationId: `resend:${row.deposit_id}` },
        );
        return { topic: options.depositRequestedTopic, key: messageKey(event), event };
      });
      await enqueueOutbox(trx, messages);
      for (const row of due.rows) {
        const waitMs = Math.min(options.resendBackoffMaxMs, options.resendAfterMs * 2 ** (row.resends + 1));
        await trx
          .updateTable('deposits')
          .set({ resends: row.resends + 1, next_resend_at: new Date(at.getTime() + waitMs) })
          .where('deposit_id', '=', row.deposit_id)
          .execute();
      }
      return due.rows.length;
    });
    if (count > 0) {
      resent?.inc(count);
      logger.warn({ resent: count }, 'deposit requests sent again for deposits still PENDING');
    }
    return count;
  }

  function schedule(): void {
    if (stopping) return;
    timer = setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => logger.error({ err: error }, 'deposit re-send scan failed; retrying'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, options.scanIntervalMs);
    timer.unref();
  }

  return {
    runOnce,
    start() {
      stopping = false;
      schedule();
    },
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await running;
    },
  };
}
