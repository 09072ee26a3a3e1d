import { type EventOf, validateEvent } from '@nuri/contracts/events';
import {
  createEventConsumer,
  type EventConsumer,
  type EventConsumerOptions,
  isTransientInfrastructureError,
} from '@nuri/platform/kafka/consumer';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import type { Logger } from '@nuri/platform/logger';
import type { Registry } from 'prom-client';
import { isLockConflict } from '../db/mysql-errors.ts';
import type { CashOutcome, SettlementStore } from '../domain/settlement.ts';

/** Consumer timings a test or bench may shorten (group join, fetch wait). */
export type ConsumerTimings = Pick<
  EventConsumerOptions<unknown>,
  'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs' | 'fetchWaitMs' | 'lagIntervalMs'
>;

export interface SettledConsumerOptions {
  brokers: string[];
  topic: string;
  groupId: string;
  batchSizeMax: number;
  settlements: SettlementStore;
  dlqProducer: EventProducer;
  logger: Logger;
  registry?: Registry;
  timings?: ConsumerTimings;
}

function toCashOutcome(event: EventOf<'payment.settled'>): CashOutcome {
  const { data } = event;
  return {
    paymentId: data.paymentId,
    userUuid: data.userUuid,
    outcome:
      data.status === 'SUCCEEDED'
        ? { status: 'SUCCEEDED' }
        : // The contract makes the code optional; a failure without one is still a failure.
          { status: 'FAILED', failureCode: data.failureCode ?? 'CASH_STEP_FAILED' },
  };
}

/**
 * payment.settled → the saga's last step: COMPLETED, or FAILED with the points
 * refunded. One transaction per batch holds the refunds and the status
 * changes; a redelivered batch meets terminal payments and changes nothing.
 */
export function createSettledConsumer(options: SettledConsumerOptions): EventConsumer {
  const { logger, groupId } = options;
  return createEventConsumer<EventOf<'payment.settled'>>({
    brokers: options.brokers,
    groupId,
    clientId: `point-${groupId}`,
    topics: [options.topic],
    batchSizeMax: options.batchSizeMax,
    dlqProducer: options.dlqProducer,
    logger,
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...options.timings,
    // A lost lock race is retried like an outage, never dead-lettered: the event is fine.
    isTransient: (error) => isTransientInfrastructureError(error) || isLockConflict(error),
    validate: (_topic, value) => validateEvent('payment.settled', value),
    handleBatch: async (batch) => {
      const records = await options.settlements.settle(batch.map(({ event }) => toCashOutcome(event)));
      for (const record of records) {
        if (record.decision.kind === 'ignored' && record.decision.reason === 'CONFLICTING_OUTCOME') {
          logger.error(
            { paymentId: record.paymentId },
            'the core reported an outcome opposite to the one already applied; nothing changed',
          );
        }
      }
      logger.debug(
        { groupId, received: batch.length, applied: records.length },
        'payment.settled batch handled',
      );
    },
  });
}
