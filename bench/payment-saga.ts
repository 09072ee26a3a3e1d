// Composite payment saga, end to end: POST /api/v1/payments on point (its real
// server.ts in a child process: MariaDB, outbox relay, payment.settled
// consumer) → Kafka → the real core-payment (a second child process running
// its app and consumers on a throwaway PostgreSQL database) → Kafka → point.
// This driver process plays channel-user (JWKS + account links) and the load.
//
// The gateway does not route to point yet, so requests go straight to point.
//
// Reports, per run and as median [min–max] over the runs:
//   accepted/s  — payments answered 202 per second of offered load (closed loop, C in flight);
//   settled/s   — payments terminal per second, first request → last terminal;
//   settle p50/p99 — request sent → payment COMPLETED/FAILED in point's database (settled_at).
// FAILED_SHARE of the payments go to accounts without cash and must end FAILED
// INSUFFICIENT_BALANCE with their points refunded; every run checks that.
//
//   node bench/payment-saga.ts [--runs 3] [--payments 10000] [--users 500]
//                              [--concurrency 64] [--failing 0.3]
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEvent, messageKey, newEventId } from '@nuri/contracts/events';
import { accessTokenAudience, accessTokenIssuer } from '@nuri/platform/access-token';
import {
  createMysqlDatabase,
  createPgDatabase,
  dropMysqlDatabase,
  dropPgDatabase,
  ensureMysqlDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { runServer } from '@nuri/platform/http';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { databaseUrl } from '@nuri/platform/service';
import Fastify from 'fastify';
import { exportJWK, SignJWT } from 'jose';
import { sql } from 'kysely';
import { Pool } from 'undici';
import { buildApp as buildCoreApp } from '../services/core-payment/src/app.ts';
import type { ServiceDb as CoreDb } from '../services/core-payment/src/db/database.ts';
import { migrations as coreMigrations } from '../services/core-payment/src/db/migrations.ts';
import { createEventRuntime } from '../services/core-payment/src/events/runtime.ts';
import { type CorePaymentTopics, topicsToEnsure } from '../services/core-payment/src/events/topics.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    payments: { type: 'string', default: '10000' },
    users: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '64' },
    failing: { type: 'string', default: '0.3' },
    // Diagnostic: the core is down while payments are accepted (point's acceptance alone), then
    // started to drain the backlog (the cash step and settlement alone). Latencies then mean little.
    'core-late': { type: 'boolean', default: false },
    // core-payment handles one payment per transaction, one batch at a time per consumer; more
    // instances in its consumer group (here: in one process) settle partitions side by side.
    'core-instances': { type: 'string', default: '1' },
    // 0: closed loop, as fast as point accepts. >0: payments are offered at this rate (per second),
    // so settle latency is measured below saturation instead of behind a growing backlog.
    rate: { type: 'string', default: '0' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'pg-admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'mysql-admin-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306/' },
    'settle-timeout-ms': { type: 'string', default: '300000' },
    // serve-core only
    db: { type: 'string' },
    'topic-base': { type: 'string' },
    port: { type: 'string' },
  },
});

const brokers = args.brokers.split(',');
const internalToken = `bench-internal-${randomBytes(24).toString('hex')}`;
const cashPerFundedAccount = 100_000_000n;
const pointsPerUser = 1_000_000;
const partitions = 6;

function coreTopics(base: string): CorePaymentTopics {
  return {
    depositRequested: `${base}.deposit.requested`,
    depositSettled: `${base}.deposit.settled`,
    paymentRequested: `${base}.payment.requested`,
    paymentSettled: `${base}.payment.settled`,
    couponIssued: `${base}.coupon.issued`,
    couponRecorded: `${base}.coupon.recorded`,
  };
}

// ---- child: core-payment with this run's topics (its server.ts has fixed topic names)

async function serveCore(): Promise<void> {
  const name = args.db!;
  const topics = coreTopics(args['topic-base']!);
  const logger = createLogger({ name: 'core-payment', level: 'warn' });
  const url = databaseUrl(args['pg-admin-url'], name);
  const database = createPgDatabase<CoreDb>({
    url,
    poolSizeMax: 20,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 30_000,
    applicationName: 'bench-core-payment',
  });
  await migrateToLatest(database.db, coreMigrations);
  const runtimes = Array.from({ length: Number(args['core-instances']) }, () =>
    createEventRuntime({
      db: database.db,
      brokers,
      topics,
      groupIds: { deposits: `${name}.deposits`, payments: `${name}.payments`, coupons: `${name}.coupons` },
      batchSizesMax: { deposits: 1_000, payments: 200, coupons: 500, outbox: 1_000 },
      logger,
      listenUrl: url,
    }),
  );
  const token = process.env.BENCH_INTERNAL_TOKEN!;
  const app = buildCoreApp({
    logger,
    metrics: createMetrics('core-payment'),
    database,
    kafkaBrokers: brokers,
    internalToken: token,
  });
  for (const runtime of runtimes) await runtime.start();
  await runServer(app, {
    host: '127.0.0.1',
    port: Number(args.port),
    onShutdown: [
      async () => void (await Promise.all(runtimes.map((runtime) => runtime.stop()))),
      () => database.close(),
    ],
  });
}

// ---- driver: channel-user's stand-in (JWKS + account links)

const signing = generateKeyPairSync('ed25519');

async function startChannelUserStub(links: Map<string, string>) {
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'bench', alg: 'EdDSA', use: 'sig' };
  const app = Fastify();
  app.get('/.well-known/jwks.json', async () => ({ keys: [jwk] }));
  app.get<{ Params: { accountNo: string }; Querystring: { userUuid?: string } }>(
    '/internal/v1/account-links/:accountNo',
    async (request, reply) => {
      if (request.headers.authorization !== `Bearer ${internalToken}`) return reply.code(401).send({});
      const owner = links.get(request.params.accountNo);
      if (owner === undefined || owner !== request.query.userUuid)
        return reply.code(404).send({ code: 'ACCOUNT_NOT_FOUND' });
      return { accountNo: request.params.accountNo, userUuid: owner };
    },
  );
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

function tokenFor(userUuid: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: 'bench' })
    .setSubject(userUuid)
    .setIssuer(accessTokenIssuer)
    .setAudience(accessTokenAudience)
    .setIssuedAt()
    .setJti(uuidv7())
    .setExpirationTime('1h')
    .sign(signing.privateKey);
}

function spawnChild(argv: string[], env: Record<string, string>, label: string): ChildProcess {
  const child = spawn(process.execPath, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${label}] ${chunk.toString()}`));
  return child;
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/health/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function freePort(): Promise<number> {
  const probe = Fastify();
  await probe.listen({ host: '127.0.0.1', port: 0 });
  const address = probe.server.address();
  await probe.close();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface RunResult {
  /** point accepted → its outbox row published (acked by Kafka). */
  relayP50Ms: number;
  relayP99Ms: number;
  /** Where the settle time goes: point accepted → core settled (relay, Kafka, core's queue and transaction) … */
  toCoreP50Ms: number;
  toCoreP99Ms: number;
  /** … and core settled → point terminal (core's relay, Kafka, point's consumer). */
  backP50Ms: number;
  backP99Ms: number;
  acceptedPerSecond: number;
  settledPerSecond: number;
  settleP50Ms: number;
  settleP99Ms: number;
  failedShare: number;
}

interface Customer {
  userUuid: string;
  accountNo: string;
  authorization: string;
  funded: boolean;
}

async function requestJson(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: unknown,
) {
  const response = await pool.request({
    method,
    path,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

async function runOnce(run: number): Promise<RunResult> {
  const paymentsTotal = Number(args.payments);
  const usersTotal = Number(args.users);
  const concurrency = Number(args.concurrency);
  const failingShare = Number(args.failing);
  const suffix = `${Date.now().toString(36)}_${run}`;
  const coreDb = `bench_saga_core_${suffix}`;
  const pointDb = `bench_saga_point_${suffix}`;
  const topicBase = `bench.saga.${suffix}`;
  const topics = coreTopics(topicBase);
  await ensurePgDatabase(args['pg-admin-url'], coreDb);
  await ensureMysqlDatabase(args['mysql-admin-url'], pointDb);
  await ensureTopics({
    brokers,
    topics: [...topicsToEnsure(topics), `${topics.paymentSettled}.dlq`].map((name) => ({ name, partitions })),
  });
  const links = new Map<string, string>();
  const channelUser = await startChannelUserStub(links);
  const [corePort, pointPort] = [await freePort(), await freePort()];
  const spawnCore = () =>
    spawnChild(
      [
        fileURLToPath(import.meta.url),
        'serve-core',
        '--db',
        coreDb,
        '--topic-base',
        topicBase,
        '--port',
        String(corePort),
        '--brokers',
        args.brokers,
        '--pg-admin-url',
        args['pg-admin-url'],
        '--core-instances',
        args['core-instances'],
      ],
      { BENCH_INTERNAL_TOKEN: internalToken },
      'core',
    );
  let core = spawnCore();
  const point = spawnChild(
    [fileURLToPath(new URL('../services/point/src/server.ts', import.meta.url))],
    {
      NURI_POINT_PORT: String(pointPort),
      NURI_POINT_DB: pointDb,
      NURI_MYSQL_URL: args['mysql-admin-url'],
      NURI_MYSQL_POOL_SIZE_MAX: '30',
      NURI_KAFKA_BROKERS: args.brokers,
      NURI_INTERNAL_TOKEN: internalToken,
      NURI_CHANNEL_USER_URL: channelUser.url,
      NURI_POINT_PAYMENT_REQUESTED_TOPIC: topics.paymentRequested,
      NURI_POINT_PAYMENT_SETTLED_TOPIC: topics.paymentSettled,
      NURI_POINT_SETTLED_GROUP_ID: `${pointDb}.payments`,
      NURI_LOG_LEVEL: 'warn',
    },
    'point',
  );
  const coreUrl = `http://127.0.0.1:${corePort}`;
  const pointUrl = `http://127.0.0.1:${pointPort}`;
  const corePool = new Pool(coreUrl, { connections: 16 });
  const pointPool = new Pool(pointUrl, { connections: concurrency });
  const producer = createEventProducer({ brokers, clientId: 'bench-saga-funding' });
  const coreDatabase = createPgDatabase<CoreDb>({
    url: databaseUrl(args['pg-admin-url'], coreDb),
    poolSizeMax: 2,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 60_000,
    applicationName: 'bench-saga-driver',
  });
  const pointDatabase = createMysqlDatabase<{
    payments: { payment_id: string; status: string; failure_code: string | null; settled_at: Date | null };
  }>({
    url: databaseUrl(args['mysql-admin-url'], pointDb),
    poolSizeMax: 2,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 60_000,
  });
  try {
    await Promise.all([waitReady(coreUrl, 60_000), waitReady(pointUrl, 60_000)]);

    // Customers: (1 − failing) of them funded; the rest have empty accounts, so their payments fail.
    const customers: Customer[] = [];
    const fundedTotal = Math.round(usersTotal * (1 - failingShare));
    for (let index = 0; index < usersTotal; index += 1) {
      const userUuid = uuidv7();
      const opened = await requestJson(
        corePool,
        'POST',
        '/internal/v1/accounts',
        { authorization: `Bearer ${internalToken}` },
        { userUuid },
      );
      if (opened.status !== 201) throw new Error(`open account: ${opened.status}`);
      const accountNo = String(opened.json!.accountNo);
      links.set(accountNo, userUuid);
      customers.push({
        userUuid,
        accountNo,
        authorization: `Bearer ${await tokenFor(userUuid)}`,
        funded: index < fundedTotal,
      });
    }
    const deposits = customers
      .filter((customer) => customer.funded)
      .map((customer) => {
        const event = createEvent(
          'deposit.requested',
          {
            depositId: newEventId(),
            accountNo: customer.accountNo,
            userUuid: customer.userUuid,
            amount: Number(cashPerFundedAccount),
            requestedAt: new Date().toISOString(),
          },
          { source: 'bench', correlationId: 'bench-funding' },
        );
        return { topic: topics.depositRequested, key: messageKey(event), event };
      });
    await producer.sendEvents(deposits);
    for (let settled = 0; settled < deposits.length; await sleep(100)) {
      const row = await sql<{
        n: string;
      }>`select count(*) as n from deposits where status = 'COMPLETED'`.execute(coreDatabase.db);
      settled = Number(row.rows[0]?.n ?? 0);
    }
    if (args['core-late']) await stopChild(core);
    await Promise.all(
      customers.map(async (customer) => {
        const charged = await requestJson(
          pointPool,
          'POST',
          '/api/v1/points/charge',
          { authorization: customer.authorization },
          { amount: pointsPerUser },
        );
        if (charged.status !== 200) throw new Error(`charge: ${charged.status}`);
      }),
    );

    // Load: a closed loop of `concurrency` requests in flight; FAILED_SHARE of payments go to unfunded customers.
    const funded = customers.filter((customer) => customer.funded);
    const unfunded = customers.filter((customer) => !customer.funded);
    const sentAt = new Map<string, number>();
    const expectFailed = new Set<string>();
    let next = 0;
    let refused = 0;
    const startedAt = performance.now();
    const startedAtEpochMs = Date.now();
    const ratePerSecond = Number(args.rate);
    async function worker() {
      for (;;) {
        const index = next;
        next += 1;
        if (index >= paymentsTotal) return;
        if (ratePerSecond > 0) {
          const dueMs = (index / ratePerSecond) * 1_000 - (performance.now() - startedAt);
          if (dueMs > 0) await sleep(dueMs);
        }
        const failing = unfunded.length > 0 && (index * 7919) % 1000 < failingShare * 1000;
        const pool = failing ? unfunded : funded;
        const customer = pool[index % pool.length]!;
        const sent = startedAtEpochMs + (performance.now() - startedAt);
        const response = await requestJson(
          pointPool,
          'POST',
          '/api/v1/payments',
          { authorization: customer.authorization },
          {
            accountNo: customer.accountNo,
            cashAmount: 1_000 + (index % 5) * 1_000,
            pointAmount: 100,
          },
        );
        if (response.status !== 202) {
          refused += 1;
          continue;
        }
        const paymentId = String(response.json!.paymentId);
        sentAt.set(paymentId, sent);
        if (failing) expectFailed.add(paymentId);
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker));
    const acceptSeconds = (performance.now() - startedAt) / 1_000;
    if (refused > 0) throw new Error(`${refused} payments were not accepted`);
    let drainStartedAtMs = startedAtEpochMs;
    if (args['core-late']) {
      core = spawnCore();
      await waitReady(coreUrl, 60_000);
      drainStartedAtMs = Date.now();
    }

    const deadline = Date.now() + Number(args['settle-timeout-ms']);
    for (;;) {
      const row = await sql<{
        n: string;
      }>`select count(*) as n from payments where status = 'PENDING'`.execute(pointDatabase.db);
      if (Number(row.rows[0]?.n ?? 0) === 0) break;
      if (Date.now() > deadline) throw new Error('payments still PENDING at the settle deadline');
      await sleep(50);
    }
    const rows = await pointDatabase.db
      .selectFrom('payments')
      .select(['payment_id', 'status', 'failure_code', 'settled_at'])
      .execute();
    const latencies: number[] = [];
    let lastSettledMs = 0;
    let failed = 0;
    for (const row of rows) {
      const sent = sentAt.get(row.payment_id);
      if (sent === undefined || row.settled_at === null) continue;
      const settledMs = row.settled_at.getTime();
      latencies.push(Math.max(0, settledMs - sent));
      lastSettledMs = Math.max(lastSettledMs, settledMs);
      const shouldFail = expectFailed.has(row.payment_id);
      if (
        shouldFail !== (row.status === 'FAILED') ||
        (shouldFail && row.failure_code !== 'INSUFFICIENT_BALANCE')
      ) {
        throw new Error(
          `payment ${row.payment_id} ended ${row.status} ${row.failure_code}; expected ${shouldFail ? 'FAILED' : 'COMPLETED'}`,
        );
      }
      if (shouldFail) failed += 1;
    }
    if (latencies.length !== paymentsTotal)
      throw new Error(`${latencies.length} of ${paymentsTotal} payments settled`);
    const reconciliation = await requestJson(pointPool, 'GET', '/internal/v1/reconciliation', {
      authorization: `Bearer ${internalToken}`,
    });
    if (reconciliation.json?.ok !== true)
      throw new Error(`reconciliation failed: ${JSON.stringify(reconciliation.json)}`);
    latencies.sort((a, b) => a - b);
    const coreSettled = await sql<{
      payment_id: string;
      settled_at: Date;
    }>`select payment_id, settled_at from payments`.execute(coreDatabase.db);
    const coreSettledAt = new Map(coreSettled.rows.map((row) => [row.payment_id, row.settled_at.getTime()]));
    const pointRows = await pointDatabase.db
      .selectFrom('payments')
      .select(['payment_id', 'settled_at'])
      .execute();
    const createdAt = await sql<{
      payment_id: string;
      created_at: Date;
    }>`select payment_id, created_at from payments`.execute(pointDatabase.db);
    const createdAtById = new Map(createdAt.rows.map((row) => [row.payment_id, row.created_at.getTime()]));
    const toCore: number[] = [];
    const back: number[] = [];
    for (const row of pointRows) {
      const atCore = coreSettledAt.get(row.payment_id);
      const created = createdAtById.get(row.payment_id);
      if (atCore === undefined || created === undefined || row.settled_at === null) continue;
      toCore.push(atCore - created);
      back.push(row.settled_at.getTime() - atCore);
    }
    // Point's own share of the forward leg: accepted → its relay had the request acked by Kafka.
    const outbox = await sql<{
      payload: string;
      published_at: Date | null;
    }>`select payload, published_at from outbox`.execute(pointDatabase.db);
    const relayed: number[] = [];
    for (const row of outbox.rows) {
      const paymentId = (JSON.parse(row.payload) as { data: { paymentId: string } }).data.paymentId;
      const created = createdAtById.get(paymentId);
      if (created !== undefined && row.published_at !== null)
        relayed.push(row.published_at.getTime() - created);
    }
    relayed.sort((a, b) => a - b);
    toCore.sort((a, b) => a - b);
    back.sort((a, b) => a - b);
    return {
      relayP50Ms: percentile(relayed, 50),
      relayP99Ms: percentile(relayed, 99),
      toCoreP50Ms: percentile(toCore, 50),
      toCoreP99Ms: percentile(toCore, 99),
      backP50Ms: percentile(back, 50),
      backP99Ms: percentile(back, 99),
      acceptedPerSecond: paymentsTotal / acceptSeconds,
      settledPerSecond: paymentsTotal / ((lastSettledMs - drainStartedAtMs) / 1_000),
      settleP50Ms: percentile(latencies, 50),
      settleP99Ms: percentile(latencies, 99),
      failedShare: failed / paymentsTotal,
    };
  } finally {
    await producer.close();
    await Promise.all([stopChild(point), stopChild(core)]);
    await corePool.close();
    await pointPool.close();
    await channelUser.close();
    await coreDatabase.close();
    await pointDatabase.close();
    await dropPgDatabase(args['pg-admin-url'], coreDb).catch(() => {});
    await dropMysqlDatabase(args['mysql-admin-url'], pointDb).catch(() => {});
    await deleteTopics(brokers, [...topicsToEnsure(topics), `${topics.paymentSettled}.dlq`]).catch(() => {});
  }
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${median.toFixed(0)} [${sorted[0]!.toFixed(0)}–${sorted.at(-1)!.toFixed(0)}]`;
}

async function drive(): Promise<void> {
  const runs = Number(args.runs);
  const results: RunResult[] = [];
  console.log(
    `payment saga: ${args.payments} payments, ${args.users} users, ${args.concurrency} in flight, ${Number(args.failing) * 100}% failing, ${Number(args.rate) > 0 ? `offered at ${args.rate}/s` : 'closed loop'}, ${args['core-instances']} core consumer instance(s)${args['core-late'] ? ', core started late' : ''}, straight at point (the gateway does not route to point yet)`,
  );
  for (let run = 1; run <= runs; run += 1) {
    const result = await runOnce(run);
    results.push(result);
    console.log(
      `run ${run}: accepted ${result.acceptedPerSecond.toFixed(0)}/s, settled ${result.settledPerSecond.toFixed(0)}/s, settle p50 ${result.settleP50Ms.toFixed(0)} ms, p99 ${result.settleP99Ms.toFixed(0)} ms, failed ${(result.failedShare * 100).toFixed(1)}% (point relay p50/p99 ${result.relayP50Ms}/${result.relayP99Ms} ms, point→core settled p50/p99 ${result.toCoreP50Ms}/${result.toCoreP99Ms} ms, core→point p50/p99 ${result.backP50Ms}/${result.backP99Ms} ms)`,
    );
  }
  console.log(`accepted/s     median ${summary(results.map((result) => result.acceptedPerSecond))}`);
  console.log(`settled/s      median ${summary(results.map((result) => result.settledPerSecond))}`);
  console.log(`settle p50 ms  median ${summary(results.map((result) => result.settleP50Ms))}`);
  console.log(`settle p99 ms  median ${summary(results.map((result) => result.settleP99Ms))}`);
}

if (positionals[0] === 'serve-core') await serveCore();
else await drive();
