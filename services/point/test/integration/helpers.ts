import { generateKeyPairSync } from 'node:crypto';
import {
  accessTokenAudience,
  accessTokenIssuer,
  createAccessTokenVerifier,
} from '@nuri/platform/access-token';
import {
  createMysqlDatabase,
  type Database,
  dropMysqlDatabase,
  ensureMysqlDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createOutboxNotifier } from '@nuri/platform/kafka/outbox';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics, type Metrics } from '@nuri/platform/metrics';
import { databaseUrl } from '@nuri/platform/service';
import { readTopicFrom, uniqueName, waitUntil } from '@nuri/platform/testing';
import Fastify from 'fastify';
import { createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { buildApp } from '../../src/app.ts';
import { type AccountLinkClient, createAccountLinkClient } from '../../src/clients/account-links.ts';
import type { ServiceDb } from '../../src/db/database.ts';
import { migrations } from '../../src/db/migrations.ts';
import { createPaymentRepository } from '../../src/db/payments-repository.ts';
import type { RetryPolicy } from '../../src/domain/payments.ts';
import { paymentRequestedMessage } from '../../src/events/payment-requested.ts';
import { createEventRuntime, type EventRuntime } from '../../src/events/runtime.ts';
import type { PointTopics } from '../../src/events/topics.ts';
import { createTimeoutResender, type TimeoutResender } from '../../src/jobs/timeout-resender.ts';

export const mysqlAdminUrl = 'mysql://root@127.0.0.1:3306/';
export const brokers = ['127.0.0.1:9092'];
/** point's own token (what it presents to channel-user). */
export const internalToken = 'point-test-internal-token-0123456789abcdefghijkl';
/** The operator's token: the caller of point's internal routes that may also act. */
export const opsToken = 'point-test-ops-token-0123456789abcdefghijklmnopq';
/** The gateway's: the operator console's read-only reports. */
export const gatewayToken = 'point-test-gateway-token-0123456789abcdefghijk';
export const silentLogger = createLogger({ name: 'point-test', level: 'silent' });

/** Short group timings so a consumer joins in well under a second on the test broker. */
export const fastConsumerTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 50,
  lagIntervalMs: 0,
} as const;

// ---- access tokens: signed like channel-user's, verified by the real verifier

const signing = generateKeyPairSync('ed25519');
const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'test-key', alg: 'EdDSA', use: 'sig' };
export const accessTokens = createAccessTokenVerifier(createLocalJWKSet({ keys: [publicJwk] }), 0);

export async function tokenFor(userUuid: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: 'test-key' })
    .setSubject(userUuid)
    .setIssuer(accessTokenIssuer)
    .setAudience(accessTokenAudience)
    .setIssuedAt()
    .setJti(uuidv7())
    .setExpirationTime('15m')
    .sign(signing.privateKey);
}

export interface TestUser {
  userUuid: string;
  headers: { authorization: string };
}

export async function newUser(): Promise<TestUser> {
  const userUuid = uuidv7();
  return { userUuid, headers: { authorization: `Bearer ${await tokenFor(userUuid)}` } };
}

// ---- channel-user's account-link route, as a test double of the peer HTTP API

export interface AccountLinkStub {
  url: string;
  link(accountNo: string, userUuid: string): void;
  /** When true, answers 503 like a peer in trouble. */
  failing: boolean;
  /** How long each answer takes (a slow peer). */
  delayMs: number;
  calls: number;
  close(): Promise<void>;
}

export async function startAccountLinkStub(): Promise<AccountLinkStub> {
  const links = new Map<string, string>();
  const app = Fastify();
  const stub: AccountLinkStub = {
    url: '',
    failing: false,
    delayMs: 0,
    calls: 0,
    link: (accountNo, userUuid) => links.set(accountNo, userUuid),
    close: () => app.close(),
  };
  app.get('/health/ready', async () => ({ status: 'ok' }));
  app.get<{ Params: { accountNo: string }; Querystring: { userUuid?: string } }>(
    '/internal/v1/account-links/:accountNo',
    async (request, reply) => {
      stub.calls += 1;
      if (stub.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, stub.delayMs));
      if (request.headers.authorization !== `Bearer ${internalToken}`) return reply.code(401).send({});
      if (stub.failing) return reply.code(503).send({ code: 'UNAVAILABLE' });
      const owner = links.get(request.params.accountNo);
      if (owner === undefined || owner !== request.query.userUuid) {
        return reply.code(404).send({ code: 'ACCOUNT_NOT_FOUND' });
      }
      return { accountNo: request.params.accountNo, userUuid: owner };
    },
  );
  stub.url = await app.listen({ host: '127.0.0.1', port: 0 });
  return stub;
}

let accountSequence = 0;
/** A well-formed account number for tests that never reach the core. */
export function fakeAccountNo(): string {
  accountSequence += 1;
  const digits =
    `${Date.now() % 1_000_000}`.padStart(6, '0') + String(accountSequence % 1_000_000).padStart(6, '0');
  return `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
}

// ---- the point service on a throwaway database

export interface PointOptions {
  retryPolicy?: Partial<RetryPolicy>;
  /** Topics to share with a core; fresh ones otherwise. */
  topics?: PointTopics;
  cacheTtlMs?: number;
  poolSizeMax?: number;
  now?: () => Date;
}

export interface TestPoint {
  name: string;
  database: Database<ServiceDb>;
  app: ReturnType<typeof buildApp>;
  metrics: Metrics;
  topics: PointTopics;
  payments: ReturnType<typeof createPaymentRepository>;
  accountLinks: AccountLinkClient;
  stub: AccountLinkStub;
  retryPolicy: RetryPolicy;
  /** The consumer and/or relay; each call makes a new runtime (a restarted process). */
  startEvents(parts?: { relay?: boolean; consumer?: boolean; groupId?: string }): Promise<EventRuntime>;
  timeouts(): TimeoutResender;
  close(): Promise<void>;
}

export function uniqueTopics(prefix: string): PointTopics {
  const base = uniqueName(`it.point.${prefix}`);
  return { paymentRequested: `${base}.payment.requested`, paymentSettled: `${base}.payment.settled` };
}

export async function startPoint(prefix: string, options: PointOptions = {}): Promise<TestPoint> {
  const name = uniqueName(`it_point_${prefix}`).toLowerCase();
  await ensureMysqlDatabase(mysqlAdminUrl, name);
  const database = createMysqlDatabase<ServiceDb>({
    url: databaseUrl(mysqlAdminUrl, name),
    poolSizeMax: options.poolSizeMax ?? 10,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 30_000,
  });
  await migrateToLatest(database.db, migrations);
  const topics = options.topics ?? uniqueTopics(prefix);
  const retryPolicy: RetryPolicy = {
    timeoutMs: 30_000,
    attemptsMax: 5,
    backoffFactor: 2,
    backoffMaxMs: 300_000,
    ...options.retryPolicy,
  };
  // As server.ts wires it: the repository wakes this process's relays after each commit of a cash request.
  const outboxNotifier = createOutboxNotifier();
  const payments = createPaymentRepository(database.db, {
    notifier: outboxNotifier,
    requestCash: (payment, attempt) => paymentRequestedMessage(topics.paymentRequested, payment, attempt),
    retryPolicy,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const stub = await startAccountLinkStub();
  const accountLinks = createAccountLinkClient({
    urls: [stub.url.replace(/\/$/, '')],
    internalToken,
    probeIntervalMs: 200,
    // Generous: the conservation test runs 1,000 payments in this one process,
    // and on a loaded machine the stub's answers queue behind them.
    timeoutMs: 10_000,
    cacheTtlMs: options.cacheTtlMs ?? 0,
  });
  const metrics = createMetrics('point-test');
  const app = buildApp({
    logger: silentLogger,
    metrics,
    database,
    kafkaBrokers: brokers,
    accessTokens,
    accountLinks,
    payments,
    internalCallers: { ops: opsToken, gateway: gatewayToken },
    paymentTimeoutMs: retryPolicy.timeoutMs,
    attemptsMax: retryPolicy.attemptsMax,
  });
  await app.ready();
  const runtimes: EventRuntime[] = [];
  const jobs: TimeoutResender[] = [];
  const groupId = uniqueName('point.payments');
  let topicsEnsured = false;
  return {
    name,
    database,
    app,
    metrics,
    topics,
    payments,
    accountLinks,
    stub,
    retryPolicy,
    async startEvents(parts = {}) {
      if (!topicsEnsured) {
        await ensureTopics({
          brokers,
          topics: [topics.paymentRequested, topics.paymentSettled, `${topics.paymentSettled}.dlq`].map(
            (topic) => ({
              name: topic,
              partitions: 2,
            }),
          ),
        });
        topicsEnsured = true;
      }
      const runtime = createEventRuntime({
        db: database.db,
        brokers,
        topics,
        groupId: parts.groupId ?? groupId,
        settlements: payments,
        settledBatchSizeMax: 500,
        outboxBatchSizeMax: 1_000,
        relayPollIntervalMs: 10,
        outboxNotifier,
        logger: silentLogger,
        registry: metrics.registry,
        consumerTimings: fastConsumerTimings,
        ...(parts.relay === undefined ? {} : { relay: parts.relay }),
        ...(parts.consumer === undefined ? {} : { consumer: parts.consumer }),
      });
      await runtime.start();
      runtimes.push(runtime);
      return runtime;
    },
    timeouts() {
      const job = createTimeoutResender({
        store: payments,
        logger: silentLogger,
        registry: metrics.registry,
        scanIntervalMs: 50,
        batchSizeMax: 500,
        ...(options.now === undefined ? {} : { now: options.now }),
      });
      jobs.push(job);
      return job;
    },
    async close() {
      for (const job of jobs) await job.stop();
      for (const runtime of runtimes) await runtime.stop().catch(() => {});
      await app.close();
      await accountLinks.close();
      await stub.close();
      await database.close();
      await dropMysqlDatabase(mysqlAdminUrl, name);
      if (topicsEnsured) {
        await deleteTopics(brokers, [
          topics.paymentRequested,
          topics.paymentSettled,
          `${topics.paymentSettled}.dlq`,
        ]).catch(() => {});
      }
    },
  };
}

// ---- reading state

export async function pointBalance(point: TestPoint, userUuid: string): Promise<bigint> {
  const row = await point.database.db
    .selectFrom('point_wallets')
    .select('balance')
    .where('user_uuid', '=', userUuid)
    .executeTakeFirst();
  return row === undefined ? 0n : BigInt(row.balance);
}

export async function historyOf(point: TestPoint, userUuid: string) {
  return point.database.db
    .selectFrom('point_history')
    .selectAll()
    .where('user_uuid', '=', userUuid)
    .orderBy('id')
    .execute();
}

export async function paymentRow(point: TestPoint, paymentId: string) {
  return point.database.db
    .selectFrom('payments')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
}

export async function outboxRows(point: TestPoint) {
  return point.database.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

export async function charge(point: TestPoint, user: TestUser, amount: number): Promise<void> {
  const response = await point.app.inject({
    method: 'POST',
    url: '/api/v1/points/charge',
    headers: user.headers,
    payload: { amount },
  });
  if (response.statusCode !== 200) throw new Error(`charge: ${response.statusCode} ${response.body}`);
}

/** The summed value of a counter in the point's registry (0 when it does not exist yet). */
export async function metricValue(point: TestPoint, name: string): Promise<number> {
  const metric = point.metrics.registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.reduce((sum, value) => sum + value.value, 0);
}

/** Reads a topic from the beginning until `count` messages arrived (then a little longer, to catch extras). */
export function readTopic(topic: string, count: number, timeoutMs: number, settleMs = 300) {
  return readTopicFrom(brokers, topic, count, timeoutMs, settleMs);
}

export { uniqueName, waitUntil };
