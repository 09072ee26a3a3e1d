import type { EventConsumerOptions } from '@nuri/platform/kafka/consumer';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import type { Logger } from '@nuri/platform/logger';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { ServiceDb } from '../db/database.ts';
import type { CorePaymentTopics } from './topics.ts';

/** Consumer timings a test or bench may shorten (group join, fetch wait). */
export type ConsumerTimings = Pick<
  EventConsumerOptions<unknown>,
  'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs' | 'fetchWaitMs' | 'lagIntervalMs'
>;

export interface ConsumerDeps {
  db: Kysely<ServiceDb>;
  brokers: string[];
  /** Also the inbox's consumer name: one group, one set of handled event ids. */
  groupId: string;
  topics: CorePaymentTopics;
  batchSizeMax: number;
  dlqProducer: EventProducer;
  logger: Logger;
  registry?: Registry;
  timings?: ConsumerTimings;
}

export function consumerTuning(deps: ConsumerDeps) {
  return {
    brokers: deps.brokers,
    groupId: deps.groupId,
    clientId: `core-payment-${deps.groupId}`,
    batchSizeMax: deps.batchSizeMax,
    dlqProducer: deps.dlqProducer,
    logger: deps.logger,
    ...(deps.registry === undefined ? {} : { registry: deps.registry }),
    ...deps.timings,
  };
}
