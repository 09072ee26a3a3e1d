import { validateEvent } from '@nuri/contracts/events';
import type { EventConsumer } from '@nuri/platform/kafka/consumer';
import { createInboxPruner } from '@nuri/platform/kafka/inbox';
import { createOutboxRelay, type OutboxNotifier, type OutboxRelay } from '@nuri/platform/kafka/outbox';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import type { Logger } from '@nuri/platform/logger';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { ServiceDb } from '../db/database.ts';
import type { SettlementStore } from '../domain/settlement.ts';
import { type ConsumerTimings, createSettledConsumer } from './settled-consumer.ts';
import type { PointTopics } from './topics.ts';

export interface EventRuntimeOptions {
  db: Kysely<ServiceDb>;
  brokers: string[];
  topics: PointTopics;
  groupId: string;
  settlements: SettlementStore;
  settledBatchSizeMax: number;
  outboxBatchSizeMax: number;
  relayPollIntervalMs: number;
  /** Wakes the relay when this process commits a cash request (the payments repository notifies it). */
  outboxNotifier?: OutboxNotifier;
  logger: Logger;
  registry?: Registry;
  consumerTimings?: ConsumerTimings;
  /** false leaves the relay off (a test playing "crashed before publishing"). */
  relay?: boolean;
  /** false leaves the consumer off. */
  consumer?: boolean;
}

export interface EventRuntime {
  start(): Promise<void>;
  /** The consumer first (no new effects), then the relay (publishes what is left), then the producer. */
  stop(): Promise<void>;
  readonly producer: EventProducer;
}

/** The Kafka side of point: the payment.settled consumer and the outbox relay, sharing one producer. */
export function createEventRuntime(options: EventRuntimeOptions): EventRuntime {
  const { db, brokers, logger } = options;
  const producer = createEventProducer({
    brokers,
    clientId: 'point',
    // Checked by envelope type, since topic names may be substituted.
    validate: (_topic, event) => validateEvent((event as { type: string }).type, event),
    logger,
  });
  const registry = options.registry === undefined ? {} : { registry: options.registry };
  const consumer: EventConsumer | undefined =
    options.consumer === false
      ? undefined
      : createSettledConsumer({
          brokers,
          topic: options.topics.paymentSettled,
          groupId: options.groupId,
          batchSizeMax: options.settledBatchSizeMax,
          settlements: options.settlements,
          dlqProducer: producer,
          logger,
          ...registry,
          ...(options.consumerTimings === undefined ? {} : { timings: options.consumerTimings }),
        });
  const relay: OutboxRelay | undefined =
    options.relay === false
      ? undefined
      : createOutboxRelay({
          db,
          producer,
          logger,
          batchSizeMax: options.outboxBatchSizeMax,
          pollIntervalMs: options.relayPollIntervalMs,
          ...(options.outboxNotifier === undefined ? {} : { notifier: options.outboxNotifier }),
          ...registry,
        });

  // The settled consumer wrote inbox rows until it no longer needed them (the
  // saga's state makes a repeat harmless); the pruner still deletes the rows
  // written before, past retention. Without the consumer there is nothing to prune.
  const inboxPruner = consumer === undefined ? undefined : createInboxPruner({ db, logger });

  return {
    producer,
    async start() {
      await relay?.start();
      await consumer?.start();
      inboxPruner?.start();
    },
    async stop() {
      await inboxPruner?.stop();
      const stopped = await Promise.allSettled([consumer?.stop()]);
      await relay?.stop();
      await producer.close();
      const failure = stopped.find((result) => result.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    },
  };
}
