import { randomBytes } from 'node:crypto';
import {
  createPgDatabase,
  type Database,
  dropPgDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { databaseUrl } from '@nuri/platform/service';
import { readTopicFrom, uniqueName, waitUntil } from '@nuri/platform/testing';
import { buildApp } from '../../src/app.ts';
import type { ServiceDb } from '../../src/db/database.ts';
import { settleDeposits } from '../../src/db/deposits-repository.ts';
import { migrations } from '../../src/db/migrations.ts';
import { createEventRuntime, type EventRuntime } from '../../src/events/runtime.ts';
import { type CorePaymentTopics, topicsToEnsure } from '../../src/events/topics.ts';

export const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
export const brokers = ['127.0.0.1:9092'];
/** channel-user's token: it may call every route. */
export const internalToken = 'test-internal-token-0123456789abcdefghijklmnop';
export const couponToken = 'test-coupon-token-0123456789abcdefghijklmnopqrs';
export const opsToken = 'test-ops-token-0123456789abcdefghijklmnopqrstuvw';
export const auth = { authorization: `Bearer ${internalToken}` };
/** The gateway's, which core-payment does not accept: nothing goes from the edge to the core. */
export const gatewayToken = 'test-gateway-token-0123456789abcdefghijklmnopqr';
export const internalCallersForTests = {
  'channel-user': internalToken,
  coupon: couponToken,
  ops: opsToken,
};
export const silentLogger = createLogger({ name: 'core-payment-test', level: 'silent' });

/** Short group timings so a consumer joins in well under a second on the test broker. */
export const fastConsumerTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
} as const;

export function uniqueTopics(prefix: string): CorePaymentTopics {
  const base = uniqueName(`it.${prefix}`);
  return {
    depositRequested: `${base}.deposit.requested`,
    depositSettled: `${base}.deposit.settled`,
    paymentRequested: `${base}.payment.requested`,
    paymentSettled: `${base}.payment.settled`,
    couponIssued: `${base}.coupon.issued`,
    couponRecorded: `${base}.coupon.recorded`,
  };
}

export interface TestService {
  name: string;
  database: Database<ServiceDb>;
  app: ReturnType<typeof buildApp>;
  close(): Promise<void>;
}

/** A throwaway, migrated database and the app on it; close() drops the database. */
export async function startService(prefix: string, poolSizeMax = 10): Promise<TestService> {
  const name = uniqueName(`it_cp_${prefix}`).toLowerCase();
  await ensurePgDatabase(pgAdminUrl, name);
  const database = createPgDatabase<ServiceDb>({
    url: databaseUrl(pgAdminUrl, name),
    poolSizeMax,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
    applicationName: 'core-payment-test',
  });
  await migrateToLatest(database.db, migrations);
  const app = buildApp({
    logger: silentLogger,
    metrics: createMetrics('core-payment-test'),
    database,
    kafkaBrokers: brokers,
    internalCallers: internalCallersForTests,
  });
  await app.ready();
  return {
    name,
    database,
    app,
    async close() {
      await app.close();
      await database.close();
      await dropPgDatabase(pgAdminUrl, name);
    },
  };
}

export function randomUserUuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

export async function openAccount(service: TestService, userUuid: string): Promise<string> {
  const response = await service.app.inject({
    method: 'POST',
    url: '/internal/v1/accounts',
    headers: auth,
    payload: { userUuid },
  });
  if (response.statusCode !== 201) throw new Error(`open account: ${response.statusCode} ${response.body}`);
  return response.json<{ accountNo: string }>().accountNo;
}

/** Credits an account through the real deposit path (ledger, outcome), without Kafka. */
export async function fund(
  service: TestService,
  accountNo: string,
  userUuid: string,
  amount: bigint,
): Promise<void> {
  const applied = await settleDeposits(service.database.db, {
    events: [
      {
        eventId: uuidv7(),
        correlationId: 'test-funding',
        request: { depositId: uuidv7(), accountNo, userUuid, amount },
      },
    ],
    announce: () => [],
  });
  if (applied !== 1) throw new Error(`funding ${accountNo} was not applied`);
}

export async function balanceOf(service: TestService, accountNo: string): Promise<bigint> {
  const row = await service.database.db
    .selectFrom('accounts')
    .select('balance')
    .where('account_no', '=', accountNo)
    .executeTakeFirstOrThrow();
  return BigInt(row.balance);
}

export interface TestEvents {
  topics: CorePaymentTopics;
  runtime: EventRuntime;
  /** A producer for the test's own requests, validated like a real producer's. */
  sender: EventProducer;
  stop(): Promise<void>;
}

/** Unique topics (DLQs included) and core-payment's consumers + relay running against `service`'s database. */
export async function startEvents(service: TestService, prefix: string): Promise<TestEvents> {
  const topics = uniqueTopics(prefix);
  await ensureTopics({
    brokers,
    topics: topicsToEnsure(topics).map((name) => ({ name, partitions: 2 })),
  });
  const runtime = createEventRuntime({
    db: service.database.db,
    brokers,
    topics,
    groupIds: {
      deposits: uniqueName('core-payment.deposits'),
      payments: uniqueName('core-payment.payments'),
      coupons: uniqueName('core-payment.coupons'),
    },
    batchSizesMax: { deposits: 500, payments: 100, coupons: 500, outbox: 500 },
    logger: silentLogger,
    listenUrl: databaseUrl(pgAdminUrl, service.name),
    consumerTimings: fastConsumerTimings,
  });
  await runtime.start();
  const sender = createEventProducer({ brokers, clientId: 'core-payment-test-sender' });
  return {
    topics,
    runtime,
    sender,
    async stop() {
      await sender.close();
      await runtime.stop();
      await deleteTopics(brokers, topicsToEnsure(topics)).catch(() => {});
    },
  };
}

/** Reads a topic from the beginning until `count` messages arrived (then a little longer, to catch extras). */
export function readTopic(topic: string, count: number, timeoutMs: number, settleMs = 500) {
  return readTopicFrom(brokers, topic, count, timeoutMs, settleMs);
}

export { uniqueName, waitUntil };
