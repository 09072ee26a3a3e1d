import { randomBytes, randomUUID } from 'node:crypto';
import { validateEvent } from '@nuri/contracts/events';
import {
  accessTokenAlgorithm,
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
import type { EventConsumer } from '@nuri/platform/kafka/consumer';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis, type Redis } from '@nuri/platform/redis';
import { databaseUrl } from '@nuri/platform/service';
import { uniqueName, waitUntil } from '@nuri/platform/testing';
import { Consumer, type Message, stringDeserializers } from '@platformatic/kafka';
import { generateKeyPair, SignJWT } from 'jose';
import { type AppDeps, buildApp } from '../../src/app.ts';
import { createCampaignRepository } from '../../src/db/campaigns-repository.ts';
import { createCouponRepository } from '../../src/db/coupons-repository.ts';
import type { ServiceDb } from '../../src/db/database.ts';
import { migrations } from '../../src/db/migrations.ts';
import { resendUnrecorded } from '../../src/domain/recovery.ts';
import { createCouponEventsConsumer } from '../../src/events/coupon-events-consumer.ts';
import { createCouponHandOff } from '../../src/events/hand-off.ts';
import { createMirrorProgress } from '../../src/events/mirror-progress.ts';
import { type CouponTopics, topicsToEnsure } from '../../src/events/topics.ts';
import { type CouponMetrics, createCouponMetrics } from '../../src/metrics.ts';
import { campaignKeys, createCampaignStore } from '../../src/redis/campaign-store.ts';

export const mysqlServerUrl = 'mysql://root@127.0.0.1:3306';
export const brokers = ['127.0.0.1:9092'];
export const redisUrl = 'redis://127.0.0.1:6379';
export const adminToken = randomBytes(32).toString('base64url');
export const adminAuth = { authorization: `Bearer ${adminToken}` };
/** The operator's token: the only caller of coupon's internal routes. */
export const opsToken = randomBytes(32).toString('base64url');
export const opsAuth = { authorization: `Bearer ${opsToken}` };
export const silentLogger = createLogger({ name: 'coupon-test', level: 'silent' });

/** Short group timings so a consumer joins in well under a second on the test broker. */
export const fastConsumerTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
} as const;

export function uniqueTopics(prefix: string): CouponTopics {
  const base = uniqueName(`it.coupon.${prefix}`);
  return { couponIssued: `${base}.coupon.issued`, couponRecorded: `${base}.coupon.recorded` };
}

export async function createTopics(topics: CouponTopics, partitions = 2): Promise<void> {
  await ensureTopics({ brokers, topics: topicsToEnsure(topics).map((name) => ({ name, partitions })) });
}

export async function removeTopics(topics: CouponTopics): Promise<void> {
  await deleteTopics(brokers, topicsToEnsure(topics)).catch(() => {});
}

/** A throwaway, migrated MariaDB database; drop() removes it. */
export async function createTestDatabase(prefix: string) {
  const name = uniqueName(`it_coupon_${prefix}`).toLowerCase();
  await ensureMysqlDatabase(mysqlServerUrl, name);
  const database = createMysqlDatabase<ServiceDb>({
    url: databaseUrl(mysqlServerUrl, name),
    poolSizeMax: 10,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
  });
  await migrateToLatest(database.db, migrations);
  return {
    name,
    database,
    async drop() {
      await database.close();
      await dropMysqlDatabase(mysqlServerUrl, name);
    },
  };
}

/** Signs access tokens as channel-user would; the app verifies them against the matching public key. */
export async function createTokenIssuer() {
  const { publicKey, privateKey } = await generateKeyPair(accessTokenAlgorithm, { crv: 'Ed25519' });
  return {
    verifier: createAccessTokenVerifier(async () => publicKey),
    async tokenFor(userUuid: string, expiresInSeconds = 900): Promise<string> {
      return new SignJWT({})
        .setProtectedHeader({ alg: accessTokenAlgorithm, kid: 'test' })
        .setIssuer(accessTokenIssuer)
        .setAudience(accessTokenAudience)
        .setSubject(userUuid)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(`${expiresInSeconds}s`)
        .sign(privateKey);
    },
  };
}

export function newUser(): string {
  return uuidv7();
}

export function newProducer(clientId: string, brokerList = brokers, retriesMax = 3): EventProducer {
  return createEventProducer({
    brokers: brokerList,
    clientId,
    inFlightMax: 2,
    acquireTimeoutMs: 1_000,
    requestTimeoutMs: 3_000,
    connectTimeoutMs: 1_000,
    retriesMax,
    retryDelayMs: 50,
    validate: (_topic, event) => validateEvent((event as { type: string }).type, event),
  });
}

/**
 * A producer whose broker can be "unplugged": while unplugged, sends go to a
 * producer pointed at a loopback port where no broker listens, and fail.
 */
export function unpluggableProducer(clientId: string) {
  const live = newProducer(clientId);
  // Two retries: the idempotent client turns 0 or 1 into "retry forever".
  const dead = newProducer(`${clientId}-dead`, ['127.0.0.1:1'], 2);
  let unplugged = false;
  const producer: EventProducer = {
    sendEvents: (events) => (unplugged ? dead : live).sendEvents(events),
    sendRaw: (messages) => (unplugged ? dead : live).sendRaw(messages),
    get inFlight() {
      return live.inFlight + dead.inFlight;
    },
    async close() {
      await Promise.all([live.close(), dead.close()]);
    },
  };
  return {
    producer,
    unplug: () => {
      unplugged = true;
    },
    plugIn: () => {
      unplugged = false;
    },
  };
}

/** A send held in flight by `holdableProducer`, until the test decides its fate. */
export interface HeldSend {
  /** Resolves once the held send has reached the producer: it is in flight. */
  entered: Promise<void>;
  /** The send goes to the real broker and is acked. */
  ack(): void;
  /** The send goes to a loopback port where no broker listens and fails for real (connection refused). */
  fail(): void;
}

/**
 * A producer whose next send can be held in flight (a slow broker) and then
 * acked or failed for real; every other send goes to the real broker at once.
 */
export function holdableProducer(clientId: string) {
  const live = newProducer(clientId);
  // Two retries: the idempotent client turns 0 or 1 into "retry forever".
  const dead = newProducer(`${clientId}-dead`, ['127.0.0.1:1'], 2);
  let next: { enter: () => void; fate: Promise<'ack' | 'fail'> } | undefined;
  const producer: EventProducer = {
    async sendEvents(events) {
      const hold = next;
      next = undefined;
      if (hold === undefined) return live.sendEvents(events);
      hold.enter();
      return ((await hold.fate) === 'ack' ? live : dead).sendEvents(events);
    },
    sendRaw: (messages) => live.sendRaw(messages),
    get inFlight() {
      return live.inFlight + dead.inFlight;
    },
    async close() {
      await Promise.all([live.close(), dead.close()]);
    },
  };
  return {
    producer,
    holdNextSend(): HeldSend {
      let enter: () => void = () => {};
      let decide: (fate: 'ack' | 'fail') => void = () => {};
      const entered = new Promise<void>((resolve) => {
        enter = resolve;
      });
      const fate = new Promise<'ack' | 'fail'>((resolve) => {
        decide = resolve;
      });
      next = { enter, fate };
      return { entered, ack: () => decide('ack'), fail: () => decide('fail') };
    },
  };
}

export interface TestCoupon {
  app: ReturnType<typeof buildApp>;
  deps: AppDeps;
  redis: Redis;
  store: ReturnType<typeof createCampaignStore>;
  couponMetrics: CouponMetrics;
  handOff: ReturnType<typeof createCouponHandOff>;
  consumer: EventConsumer | undefined;
  tokenFor: (userUuid: string) => Promise<string>;
  /** One recovery run, as the periodic job would do it. */
  recover: (graceMs: number) => Promise<number>;
  createCampaign: (body: Record<string, unknown>) => Promise<{ campaignId: string }>;
  close: () => Promise<void>;
}

export interface TestCouponOptions {
  database: Database<ServiceDb>;
  topics: CouponTopics;
  producer: EventProducer;
  /** Run the coupon.issued mirror / coupon.recorded consumer. */
  withConsumer?: boolean;
  core?: AppDeps['core'];
  rebuild?: Partial<AppDeps['rebuild']>;
  sendWindowMax?: number;
  recoveryGraceMs?: number;
}

/** The coupon app as server.ts wires it, on the given database, topics and producer. */
export async function startCoupon(options: TestCouponOptions): Promise<TestCoupon> {
  // Auto-pipelined as server.ts's request connection is, so ordering across commands is tested as it runs.
  const redis = createRedis({
    url: redisUrl,
    name: 'coupon-test',
    commandTimeoutMs: 5_000,
    autoPipelining: true,
  });
  const metrics = createMetrics('coupon-test');
  const couponMetrics = createCouponMetrics(metrics.registry);
  const tokens = await createTokenIssuer();
  const groupId = uniqueName('coupon.events');
  const handOff = createCouponHandOff({
    producer: options.producer,
    topic: options.topics.couponIssued,
    windowMax: options.sendWindowMax ?? 5_000,
    batchSizeMax: 500,
    waitMs: 500,
  });
  const store = createCampaignStore(redis);
  const coupons = createCouponRepository(options.database.db);
  const consumer = options.withConsumer
    ? createCouponEventsConsumer({
        brokers,
        groupId,
        topics: options.topics,
        batchSizeMax: 500,
        coupons,
        store,
        metrics: couponMetrics,
        dlqProducer: options.producer,
        logger: silentLogger,
        timings: fastConsumerTimings,
      })
    : undefined;
  const deps: AppDeps = {
    logger: silentLogger,
    metrics,
    couponMetrics,
    database: options.database,
    kafkaBrokers: brokers,
    redis,
    accessTokens: tokens.verifier,
    adminToken,
    handOff,
    core: options.core ?? { countRecorded: async () => 0 },
    mirror: createMirrorProgress({ brokers, topic: options.topics.couponIssued, groupId }),
    rebuild: { settleMs: 0, timeoutMs: 20_000, requestWaitMs: 15_000, ...options.rebuild },
    internalCallers: { ops: opsToken },
    recoveryGraceMs: options.recoveryGraceMs ?? 30_000,
  };
  const app = buildApp(deps);
  await app.ready();
  await consumer?.start();
  const campaignIds: string[] = [];
  return {
    app,
    deps,
    redis,
    store,
    couponMetrics,
    handOff,
    consumer,
    tokenFor: tokens.tokenFor,
    recover: (graceMs) =>
      resendUnrecorded({
        campaigns: createCampaignRepository(options.database.db),
        live: store,
        handOff,
        onResent: (count) => couponMetrics.recovered.inc(count),
        graceMs,
      }),
    async createCampaign(body) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/admin/coupon-campaigns',
        headers: adminAuth,
        payload: body,
      });
      if (response.statusCode !== 201)
        throw new Error(`create campaign: ${response.statusCode} ${response.body}`);
      const created = response.json<{ campaignId: string }>();
      campaignIds.push(created.campaignId);
      return created;
    },
    async close() {
      await app.close();
      await consumer?.stop();
      await deleteCampaignKeys(redis, campaignIds);
      await redis.quit();
    },
  };
}

/** Deletes only this test's keys: other tests share this Redis. */
export async function deleteCampaignKeys(redis: Redis, campaignIds: readonly string[]): Promise<void> {
  for (const campaignId of campaignIds) {
    const keys = campaignKeys(campaignId);
    await redis.del(keys.meta, keys.holders, keys.pending, keys.unconfirmed, keys.rebuildLock);
  }
}

export async function issue(coupon: TestCoupon, campaignId: string, token: string) {
  return coupon.app.inject({
    method: 'POST',
    url: `/api/v1/coupon-campaigns/${campaignId}/issue`,
    headers: { authorization: `Bearer ${token}` },
  });
}

/** Collects every message of `topic` from the beginning while the returned reader runs. */
export async function startTopicReader(topic: string) {
  const consumer = new Consumer<string, string, string, string>({
    groupId: uniqueName('coupon-test-reader'),
    clientId: 'coupon-test-reader',
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    ...{ sessionTimeout: 6_000, heartbeatInterval: 500, rebalanceTimeout: 6_000, maxWaitTime: 100 },
  });
  const received: Message<string, string, string, string>[] = [];
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  stream.on('data', (message) => received.push(message));
  let stopped = false;
  return {
    received,
    events: <T>() => received.map((message) => JSON.parse(message.value) as T),
    async stop() {
      if (stopped) return;
      stopped = true;
      await stream.close();
      await consumer.close(true);
    },
  };
}

export { uniqueName, waitUntil };
