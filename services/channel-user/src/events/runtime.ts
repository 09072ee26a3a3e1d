import { type EventOf, validateEvent } from '@nuri/contracts/events';
import { createEventConsumer, type EventConsumer } from '@nuri/platform/kafka/consumer';
import { createInboxPruner } from '@nuri/platform/kafka/inbox';
import { createOutboxRelay, type OutboxNotifier } from '@nuri/platform/kafka/outbox';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import type { Logger } from '@nuri/platform/logger';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { ServiceDb } from '../db/database.ts';
import { settleDeposits } from '../db/deposits-repository.ts';
import type { ChannelTopics } from './topics.ts';

export interface ConsumerTimings {
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  fetchWaitMs?: number;
  lagIntervalMs?: number;
}

export interface EventRuntimeOptions {
  db: Kysely<ServiceDb>;
  brokers: string[];
  topics: ChannelTopics;
  depositsGroupId: string;
  depositBatchSizeMax: number;
  outboxBatchSizeMax: number;
  logger: Logger;
  registry?: Registry;
  /** A PostgreSQL URL for the relay's LISTEN connection; without it the relay polls. */
  listenUrl?: string;
  relayPollIntervalMs?: number;
  /** Wakes the relay when this instance commits deposits (another instance's are found by polling). */
  outboxNotifier?: OutboxNotifier;
  consumerTimings?: ConsumerTimings;
}

export interface EventRuntime {
  start(): Promise<void>;
  /** The consumer first (no new effects), then the relay, then the producer. */
  stop(): Promise<void>;
}

/**
 * The Kafka side of channel-user: the outbox relay publishing
 * deposit.requested (so deposits accepted while the core is down go out when
 * it is back) and the deposit.settled consumer.
 */
export function createEventRuntime(options: EventRuntimeOptions): EventRuntime {
  const { db, brokers, topics, logger } = options;
  const producer = createEventProducer({
    brokers,
    clientId: 'channel-user',
    validate: (_topic, event) => validateEvent((event as { type: string }).type, event),
    logger,
  });
  const optional = {
    ...(options.registry === undefined ? {} : { registry: options.registry }),
  };
  const relay = createOutboxRelay({
    db,
    producer,
    logger,
    batchSizeMax: options.outboxBatchSizeMax,
    ...optional,
    ...(options.listenUrl === undefined ? {} : { listenUrl: options.listenUrl }),
    ...(options.relayPollIntervalMs === undefined ? {} : { pollIntervalMs: options.relayPollIntervalMs }),
    ...(options.outboxNotifier === undefined ? {} : { notifier: options.outboxNotifier }),
  });
  const consumer: EventConsumer = createEventConsumer<EventOf<'deposit.settled'>>({
    brokers,
    groupId: options.depositsGroupId,
    clientId: 'channel-user-deposits',
    topics: [topics.depositSettled],
    validate: (_topic, value) => validateEvent('deposit.settled', value),
    dlqProducer: producer,
    logger,
    batchSizeMax: options.depositBatchSizeMax,
    ...optional,
    ...options.consumerTimings,
    handleBatch: async (batch) => {
      const changed = await settleDeposits(
        db,
        batch.map(({ event }) => ({
          eventId: event.id,
          depositId: event.data.depositId,
          status: event.data.status,
          balanceAfter: event.data.balanceAfter === undefined ? null : BigInt(event.data.balanceAfter),
          failureCode: event.data.failureCode ?? null,
          settledAt: new Date(event.data.settledAt),
        })),
      );
      logger.debug({ received: batch.length, changed }, 'deposit settlements applied');
    },
  });

  // Settlements write no inbox rows (settleDeposits); the pruner still empties
  // the table of rows an older instance wrote during a rolling deploy.
  const inboxPruner = createInboxPruner({ db, logger });

  return {
    async start() {
      await relay.start();
      await consumer.start();
      inboxPruner.start();
    },
    async stop() {
      await inboxPruner.stop();
      const stopped = await Promise.allSettled([consumer.stop()]);
      await relay.stop();
      await producer.close();
      const failure = stopped.find((result) => result.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    },
  };
}
