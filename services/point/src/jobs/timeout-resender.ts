import { counterIn } from '@nuri/platform/kafka/metrics';
import type { Logger } from '@nuri/platform/logger';
import type { Registry } from 'prom-client';
import type { TimeoutStore } from '../domain/settlement.ts';

export interface TimeoutResenderOptions {
  store: TimeoutStore;
  logger: Logger;
  registry?: Registry;
  scanIntervalMs: number;
  batchSizeMax: number;
  now?: () => Date;
}

export interface TimeoutResender {
  start(): void;
  /** Lets the scan in hand finish, then stops. */
  stop(): Promise<void>;
  /** One scan at `now`; what the loop runs, exposed for tests. */
  runOnce(now?: Date): Promise<{ resent: number; stuck: number }>;
}

/**
 * Every point instance runs this scan; it is idempotent by construction: each
 * overdue payment is re-checked under its row lock (still PENDING, still
 * overdue) in the transaction that schedules its next attempt, so when two
 * instances find the same payment one re-sends and the other skips it.
 *
 * Re-sends payment.requested for payments the core has not answered in time
 * (docs/architecture.md: re-sent, never compensated blindly, since the cash may have
 * moved). Every re-send bumps an alert counter: in a healthy system it stays
 * at 0; a payment out of attempts is counted as stuck and left for
 * reconciliation.
 */
export function createTimeoutResender(options: TimeoutResenderOptions): TimeoutResender {
  const { store, logger, scanIntervalMs, batchSizeMax } = options;
  const now = options.now ?? (() => new Date());
  const metrics =
    options.registry === undefined
      ? undefined
      : {
          resent: counterIn(
            options.registry,
            'nuri_point_payment_requests_resent_total',
            'payment.requested re-sent because the core did not answer in time (alert when it grows)',
            [],
          ),
          stuck: counterIn(
            options.registry,
            'nuri_point_payments_stuck_total',
            'Payments still PENDING after their last attempt (alert on any)',
            [],
          ),
        };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopping = false;

  async function runOnce(at: Date = now()) {
    const result = await store.handleOverdue(at, batchSizeMax);
    if (result.resent > 0) {
      metrics?.resent.inc(result.resent);
      logger.warn({ resent: result.resent }, 'payment requests re-sent after their timeout');
    }
    if (result.stuck > 0) {
      metrics?.stuck.inc(result.stuck);
      logger.error({ stuck: result.stuck }, 'payments out of attempts are stuck PENDING; reconcile them');
    }
    return result;
  }

  function schedule(): void {
    if (stopping) return;
    timer = setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => logger.error({ err: error }, 'payment timeout scan failed; retrying'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, scanIntervalMs);
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
