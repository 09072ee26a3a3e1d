import { validateEvent } from '@nuri/contracts/events';
import type { EventConsumer } from '@nuri/platform/kafka/consumer';
import { createInboxPruner } from '@nuri/platform/kafka/inbox';
import { createOutboxRelay, type OutboxRelay } from '@nuri/platform/kafka/outbox';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import type { Logger } from '@nuri/platform/logger';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { ServiceDb } from '../db/database.ts';
import type { ConsumerTimings } from './consumer-deps.ts';
import { createCouponsConsumer } from './coupons-consumer.ts';
import { createDepositsConsumer } from './deposits-consumer.ts';
import { createPaymentsConsumer } from './payments-consumer.ts';
import type { CorePaymentTopics } from './topics.ts';

export interface EventRuntimeOptions {
  db: Kysely<ServiceDb>;
  brokers: string[];
  topics: CorePaymentTopics;
  groupIds: { deposits: string; payments: string; coupons: string };
  batchSizesMax: { deposits: number; payments: number; coupons: number; outbox: number };
  /**
   * Deposit consumers in this process, one group: Kafka gives each its own
   * partitions (keyed by account), so their batches touch disjoint accounts
   * and commit in parallel instead of queueing behind one connection.
   */
  depositConsumers?: number;
  logger: Logger;
  registry?: Registry;
  /** A PostgreSQL URL for the relay's LISTEN connection; without it the relay polls. */
  listenUrl?: string;
  /** Idle poll interval of the relay when no notification arrives. */
  relayPollIntervalMs?: number;
  consumerTimings?: ConsumerTimings;
}

export interface EventRuntime {
  start(): Promise<void>;
  /** Consumers first (no new effects), then the relay (publishes what they wrote), then the producer. */
  stop(): Promise<void>;
  readonly producer: EventProducer;
}

/** The Kafka side of core-payment: three consumers and the outbox relay sharing one producer. */
export function createEventRuntime(options: EventRuntimeOptions): EventRuntime {
  const { db, brokers, topics, logger } = options;
  const producer = createEventProducer({
    brokers,
    clientId: 'core-payment',
    // Event types are checked by envelope type, since topic names may be substituted.
    validate: (_topic, event) => validateEvent((event as { type: string }).type, event),
    logger,
  });
  const shared = {
    db,
    brokers,
    topics,
    dlqProducer: producer,
    logger,
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.consumerTimings === undefined ? {} : { timings: options.consumerTimings }),
  };
  const depositConsumers = Array.from({ length: options.depositConsumers ?? 1 }, () =>
    createDepositsConsumer({
      ...shared,
      groupId: options.groupIds.deposits,
      batchSizeMax: options.batchSizesMax.deposits,
    }),
  );
  const consumers: EventConsumer[] = [
    ...depositConsumers,
    createPaymentsConsumer({
      ...shared,
      groupId: options.groupIds.payments,
      batchSizeMax: options.batchSizesMax.payments,
    }),
    createCouponsConsumer({
      ...shared,
      groupId: options.groupIds.coupons,
      batchSizeMax: options.batchSizesMax.coupons,
    }),
  ];
  const relay: OutboxRelay = createOutboxRelay({
    db,
    producer,
    logger,
    batchSizeMax: options.batchSizesMax.outbox,
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.listenUrl === undefined ? {} : { listenUrl: options.listenUrl }),
    ...(options.relayPollIntervalMs === undefined ? {} : { pollIntervalMs: options.relayPollIntervalMs }),
  });
  const inboxPruner = createInboxPruner({ db, logger });

  return {
    producer,
    async start() {
      await relay.start();
      await Promise.all(consumers.map((consumer) => consumer.start()));
      inboxPruner.start();
    },
    async stop() {
      await inboxPruner.stop();
      const stopped = await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
      await relay.stop();
      await producer.close();
      const failure = stopped.find((result) => result.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    },
  };
}
