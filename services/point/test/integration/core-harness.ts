// The REAL core-payment (its app, migrations, consumers and relay from
// services/core-payment/src) on a throwaway PostgreSQL database, sharing the
// payment topics with a point under test. Tests only: services never import
// each other at run time.
import {
  createPgDatabase,
  type Database,
  dropPgDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createMetrics } from '@nuri/platform/metrics';
import { databaseUrl } from '@nuri/platform/service';
import { buildApp } from '../../../core-payment/src/app.ts';
import type { ServiceDb as CoreDb } from '../../../core-payment/src/db/database.ts';
import { settleDeposits } from '../../../core-payment/src/db/deposits-repository.ts';
import { migrations } from '../../../core-payment/src/db/migrations.ts';
import { createEventRuntime, type EventRuntime } from '../../../core-payment/src/events/runtime.ts';
import { type CorePaymentTopics, topicsToEnsure } from '../../../core-payment/src/events/topics.ts';
import type { PointTopics } from '../../src/events/topics.ts';
import { brokers, fastConsumerTimings, internalToken, silentLogger, uniqueName } from './helpers.ts';

export const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestCore {
  database: Database<CoreDb>;
  topics: CorePaymentTopics;
  /** The topics point must use to talk to this core. */
  pointTopics: PointTopics;
  openFundedAccount(userUuid: string, cash: bigint): Promise<string>;
  cashBalance(accountNo: string): Promise<bigint>;
  /** Ledger transactions of type PAYMENT per payment id. */
  paymentDebits(paymentId: string): Promise<number>;
  /** Starts the consumers and relay (the core "comes up"); a second call after stop() is a restart. */
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startCore(prefix: string, poolSizeMax = 10): Promise<TestCore> {
  const name = uniqueName(`it_point_core_${prefix}`).toLowerCase();
  await ensurePgDatabase(pgAdminUrl, name);
  const database = createPgDatabase<CoreDb>({
    url: databaseUrl(pgAdminUrl, name),
    poolSizeMax,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 30_000,
    applicationName: 'point-test-core',
  });
  await migrateToLatest(database.db, migrations);
  const app = buildApp({
    logger: silentLogger,
    metrics: createMetrics('core-payment-test'),
    database,
    kafkaBrokers: brokers,
    internalCallers: { 'channel-user': internalToken },
  });
  await app.ready();
  const base = uniqueName(`it.pointcore.${prefix}`);
  const topics: CorePaymentTopics = {
    depositRequested: `${base}.deposit.requested`,
    depositSettled: `${base}.deposit.settled`,
    paymentRequested: `${base}.payment.requested`,
    paymentSettled: `${base}.payment.settled`,
    couponIssued: `${base}.coupon.issued`,
    couponRecorded: `${base}.coupon.recorded`,
  };
  await ensureTopics({
    brokers,
    topics: topicsToEnsure(topics).map((topic) => ({ name: topic, partitions: 2 })),
  });
  const groupIds = {
    deposits: uniqueName('core-payment.deposits'),
    payments: uniqueName('core-payment.payments'),
    coupons: uniqueName('core-payment.coupons'),
  };
  let runtime: EventRuntime | undefined;

  return {
    database,
    topics,
    pointTopics: { paymentRequested: topics.paymentRequested, paymentSettled: topics.paymentSettled },
    async openFundedAccount(userUuid, cash) {
      const response = await app.inject({
        method: 'POST',
        url: '/internal/v1/accounts',
        headers: { authorization: `Bearer ${internalToken}` },
        payload: { userUuid },
      });
      if (response.statusCode !== 201)
        throw new Error(`open account: ${response.statusCode} ${response.body}`);
      const { accountNo } = response.json<{ accountNo: string }>();
      if (cash > 0n) {
        // The real deposit path (ledger, outcome) without going through Kafka.
        await settleDeposits(database.db, {
          events: [
            {
              eventId: uuidv7(),
              correlationId: 'test-funding',
              request: { depositId: uuidv7(), accountNo, userUuid, amount: cash },
            },
          ],
          announce: () => [],
        });
      }
      return accountNo;
    },
    async cashBalance(accountNo) {
      const row = await database.db
        .selectFrom('accounts')
        .select('balance')
        .where('account_no', '=', accountNo)
        .executeTakeFirstOrThrow();
      return BigInt(row.balance);
    },
    async paymentDebits(paymentId) {
      const rows = await database.db
        .selectFrom('ledger_transactions')
        .select('id')
        .where('type', '=', 'PAYMENT')
        .where('reference', '=', paymentId)
        .execute();
      return rows.length;
    },
    async start() {
      runtime = createEventRuntime({
        db: database.db,
        brokers,
        topics,
        groupIds,
        batchSizesMax: { deposits: 500, payments: 200, coupons: 500, outbox: 1_000 },
        logger: silentLogger,
        listenUrl: databaseUrl(pgAdminUrl, name),
        relayPollIntervalMs: 50,
        consumerTimings: fastConsumerTimings,
      });
      await runtime.start();
    },
    async stop() {
      await runtime?.stop();
      runtime = undefined;
    },
    async close() {
      await runtime?.stop().catch(() => {});
      await app.close();
      await database.close();
      await dropPgDatabase(pgAdminUrl, name);
      await deleteTopics(brokers, topicsToEnsure(topics)).catch(() => {});
    },
  };
}
