// Composite payments (points + cash) end to end through the gateway of the
// whole system, started as `npm start` starts it (e2e/harness.ts: every
// service its own process, throwaway databases, topics and groups):
// POST /api/v1/payments → point (MariaDB: deduct, USE row, PENDING payment,
// outbox) → Kafka → core-payment (cash debit, payment.settled through its
// outbox) → Kafka → point (COMPLETED, or FAILED with the points refunded).
//
// Each run measures two phases of --payments payments each, FAILING of them
// on accounts without cash (they must end FAILED INSUFFICIENT_BALANCE):
//   open    — offered at --rate per second (open loop: latency counts from the
//             scheduled send, so a stall is not hidden by sending less);
//   closed  — a closed loop of --concurrency in flight: the ceiling.
// and reports per phase
//   accepted/s      — 202s per second, first send → last 202;
//   settle p50/p99  — request sent → payment COMPLETED/FAILED (point's settled_at);
//   the legs of the settle time, each from its side's own timestamps: accept
//   (HTTP answer), point relay (accepted → published), to core (published →
//   the start of the core's batch transaction, which may begin a moment before
//   point's relay hears Kafka's ack, hence ≈0 or slightly negative), core relay
//   (→ its payment.settled published), back (→ point terminal); and the CPU
//   each process used (cores, and ms per payment) while the phase ran.
// After each phase: every payment terminal with the expected outcome, and
// after each run, read through the public API: every user's points =
// charged − Σ points of COMPLETED payments, every account's cash = deposited −
// Σ cash of COMPLETED payments; then point's and core-payment's own
// reconciliation reports (wallet = history, one USE/REFUND per payment,
// balance = ledger, at most one application per payment) must be clean.
// Before the first run, --warmup payments (not measured) warm the freshly
// started system up (JIT, pools, consumer groups). The summary is the median
// and [min–max] over the runs.
//
//   node bench/payment-saga.ts [--runs 3] [--payments 10000] [--users 200] [--rate 1000]
//                              [--concurrency 64] [--failing 0.3] [--phases open,closed] [--direct]
//                              [--warmup 2000]
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createMysqlDatabase, createPgDatabase, type Database } from '@nuri/platform/db';
import { databaseUrl } from '@nuri/platform/service';
import { sql } from 'kysely';
import { Pool } from 'undici';
import { startTestSystem, type TestSystem } from '../e2e/harness.ts';
import { loadCliConfig } from '../src/cli/config.ts';
import { environmentWithSecrets } from '../src/cli/secrets.ts';

export interface PaymentSagaOptions {
  runs: number;
  /** Payments per phase. */
  payments: number;
  users: number;
  /** Offered rate of the open phase, payments per second. */
  rate: number;
  /** In flight in the closed phase. */
  concurrency: number;
  /** Share of payments made on accounts without cash. */
  failing: number;
  phases: Phase[];
  /** Straight at point instead of through the gateway (diagnostic: the gateway's share). */
  direct: boolean;
  /** Payments sent (closed loop, not measured) before the first run, so a freshly started system is warm. */
  warmup: number;
}

export type Phase = 'open' | 'closed';

export interface Percentiles {
  p50: number;
  p99: number;
}

export interface PhaseResult {
  phase: Phase;
  acceptedPerSecond: number;
  settledPerSecond: number;
  settle: Percentiles;
  accept: Percentiles;
  pointRelay: Percentiles;
  toCore: Percentiles;
  coreRelay: Percentiles;
  back: Percentiles;
  failedShare: number;
  /** CPU cores used per process group while the phase ran (load + drain). */
  cpu: Record<string, number>;
  /** CPU milliseconds per payment, all processes of the system together (the cost less the machine's noise). */
  cpuMsPerPayment: number;
}

export const targets = { acceptedPerSecond: 1_000, settleP99Ms: 500 } as const;

const fundingPerAccount = 100_000_000;
const pointsPerUser = 1_000_000;
const setupConcurrency = 4;
const openInFlightMax = 1_024;
const settleTimeoutMs = 180_000;
const pointAmount = 100;

// biome-ignore lint/suspicious/noExplicitAny: responses of our own API, read by field
type Json = any;

interface Customer {
  userUuid: string;
  authorization: string;
  accountNo: string;
  funded: boolean;
}

interface Sent {
  customer: Customer;
  cashAmount: number;
  /** Epoch ms the request was due (open) or sent (closed). */
  sentAtMs: number;
  answeredAtMs: number;
}

interface Bench {
  system: TestSystem;
  api: Pool;
  internalToken: string;
  pointUrl: string;
  coreUrl: string;
  pointDb: Database<Json>;
  coreDb: Database<Json>;
  customers: Customer[];
  funded: Customer[];
  unfunded: Customer[];
  /** Every payment accepted so far, by id. */
  payments: Map<string, Sent>;
  orderSeq: number;
}

async function call(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  authorization?: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await pool.request({
    method,
    path,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, json: text === '' ? undefined : JSON.parse(text) };
}

function expectStatus(what: string, answer: { status: number; json: Json }, status: number): void {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
}

function randomRrn(): string {
  const bytes = randomBytes(8);
  const month = String(1 + (bytes[0]! % 12)).padStart(2, '0');
  const day = String(1 + (bytes[1]! % 28)).padStart(2, '0');
  return `8${bytes[2]! % 10}${month}${day}-1${bytes.readUInt32BE(4).toString().padStart(6, '0').slice(0, 6)}`;
}

async function inParallel<T>(
  count: number,
  limit: number,
  work: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      for (let index = next++; index < count; index = next++) results[index] = await work(index);
    }),
  );
  return results;
}

/** Users through the public API: signup, login, one account (funded or empty), points. */
async function createCustomers(api: Pool, options: PaymentSagaOptions): Promise<Customer[]> {
  const fundedTotal = Math.round(options.users * (1 - options.failing));
  const customers = await inParallel(options.users, setupConcurrency, async (index) => {
    const loginId = `saga_${randomBytes(6).toString('hex')}`;
    const password = `bench-${randomBytes(6).toString('hex')}-1`;
    const signup = await call(api, 'POST', '/api/v1/auth/signup', undefined, {
      loginId,
      password,
      name: '벤치마크',
      rrn: randomRrn(),
    });
    expectStatus('signup', signup, 201);
    const login = await call(api, 'POST', '/api/v1/auth/login', undefined, { loginId, password });
    expectStatus('login', login, 200);
    const authorization = `Bearer ${login.json.accessToken}`;
    const opened = await call(api, 'POST', '/api/v1/accounts', authorization, {});
    expectStatus('open account', opened, 201);
    const charged = await call(api, 'POST', '/api/v1/points/charge', authorization, {
      amount: pointsPerUser,
    });
    expectStatus('charge points', charged, 200);
    const funded = index < fundedTotal;
    if (funded) {
      const deposit = await call(
        api,
        'POST',
        `/api/v1/accounts/${opened.json.accountNo}/deposits`,
        authorization,
        { amount: fundingPerAccount },
      );
      expectStatus('deposit', deposit, 202);
    }
    return {
      userUuid: signup.json.userUuid as string,
      authorization,
      accountNo: opened.json.accountNo as string,
      funded,
    };
  });
  // Deposits settle asynchronously: wait until every funded account holds its money.
  const deadline = Date.now() + settleTimeoutMs;
  for (const customer of customers.filter((candidate) => candidate.funded)) {
    for (;;) {
      const account = await call(
        api,
        'GET',
        `/api/v1/accounts/${customer.accountNo}`,
        customer.authorization,
      );
      if (account.json?.balance === fundingPerAccount) break;
      if (Date.now() > deadline) throw new Error(`deposit of ${customer.accountNo} did not settle`);
      await sleep(100);
    }
  }
  return customers;
}

// ---- CPU per process: /proc/<pid>/stat utime + stime, grouped by service

const clockTicksPerSecond = 100;

function processGroups(): Map<number, string> {
  const groups = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const service = /services\/([a-z-]+)\/src\/server\.ts/.exec(cmdline)?.[1];
      if (Number(entry) === process.pid) groups.set(process.pid, 'driver');
      else if (service !== undefined) groups.set(Number(entry), service);
      else if (/mariadbd|mysqld/.test(cmdline)) groups.set(Number(entry), 'mariadb');
      else if (/^postgres|\/postgres /.test(cmdline)) groups.set(Number(entry), 'postgres');
      else if (/kafka\.Kafka/.test(cmdline)) groups.set(Number(entry), 'kafka');
      else if (/redis-server/.test(cmdline)) groups.set(Number(entry), 'redis');
    } catch {
      // gone in between
    }
  }
  return groups;
}

function cpuTicks(groups: Map<number, string>): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of groups.keys()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // exited
    }
  }
  return ticks;
}

function startCpuMeter(): () => { cores: Record<string, number>; seconds: number } {
  const groups = processGroups();
  const before = cpuTicks(groups);
  const startedAt = performance.now();
  return () => {
    const after = cpuTicks(groups);
    const seconds = (performance.now() - startedAt) / 1_000;
    const cores: Record<string, number> = {};
    for (const [pid, group] of groups) {
      const used = (after.get(pid) ?? 0) - (before.get(pid) ?? 0);
      if (used > 0) cores[group] = (cores[group] ?? 0) + used / clockTicksPerSecond / seconds;
    }
    return { cores, seconds };
  };
}

// ---- load

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: at(50), p99: at(99) };
}

/** Payment i of a phase: FAILING of them on empty accounts, spread evenly. */
function choose(bench: Bench, index: number, failing: number) {
  const fails = bench.unfunded.length > 0 && (index * 7919) % 1000 < failing * 1000;
  const pool = fails ? bench.unfunded : bench.funded;
  return { customer: pool[index % pool.length]!, cashAmount: 1_000 + (index % 5) * 1_000 };
}

async function pay(bench: Bench, index: number, failing: number, sentAtMs: number, ids: string[]) {
  const { customer, cashAmount } = choose(bench, index, failing);
  bench.orderSeq += 1;
  const answer = await call(bench.api, 'POST', '/api/v1/payments', customer.authorization, {
    accountNo: customer.accountNo,
    cashAmount,
    pointAmount,
    merchant: 'bench',
    orderId: `bench-${bench.orderSeq}-${randomBytes(4).toString('hex')}`,
  });
  expectStatus('payment', answer, 202);
  const paymentId = answer.json.paymentId as string;
  bench.payments.set(paymentId, { customer, cashAmount, sentAtMs, answeredAtMs: Date.now() });
  ids.push(paymentId);
}

async function runOpen(bench: Bench, options: PaymentSagaOptions, ids: string[]): Promise<void> {
  const startedAtMs = Date.now();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (let index = 0; index < options.payments && failure === undefined; index += 1) {
    const dueMs = startedAtMs + (index / options.rate) * 1_000;
    const waitMs = dueMs - Date.now();
    if (waitMs > 1) await sleep(waitMs);
    while (inFlight.size >= openInFlightMax) await Promise.race(inFlight);
    const request = pay(bench, index, options.failing, dueMs, ids).then(
      () => void inFlight.delete(request),
      (error: unknown) => {
        failure ??= error;
        inFlight.delete(request);
      },
    );
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
}

async function runClosed(bench: Bench, options: PaymentSagaOptions, ids: string[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let index = next++; index < options.payments; index = next++) {
        await pay(bench, index, options.failing, Date.now(), ids);
      }
    }),
  );
}

async function waitTerminal(bench: Bench): Promise<void> {
  const deadline = Date.now() + settleTimeoutMs;
  for (;;) {
    const row = await sql<{ n: number }>`select count(*) as n from payments where status = 'PENDING'`.execute(
      bench.pointDb.db,
    );
    if (Number(row.rows[0]?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`payments still PENDING ${settleTimeoutMs} ms after the load`);
    await sleep(20);
  }
}

async function runPhase(bench: Bench, options: PaymentSagaOptions, phase: Phase): Promise<PhaseResult> {
  const ids: string[] = [];
  const meter = startCpuMeter();
  const startedAtMs = Date.now();
  if (phase === 'open') await runOpen(bench, options, ids);
  else await runClosed(bench, options, ids);
  const lastAnsweredMs = Math.max(...ids.map((id) => bench.payments.get(id)!.answeredAtMs));
  await waitTerminal(bench);
  const cpu = meter();

  // Every payment of the phase terminal, with the outcome its account calls for.
  const rows = await sql<{
    payment_id: string;
    status: string;
    failure_code: string | null;
    created_at: Date;
    settled_at: Date | null;
  }>`select payment_id, status, failure_code, created_at, settled_at from payments
     where payment_id in (${sql.join(ids)})`.execute(bench.pointDb.db);
  if (rows.rows.length !== ids.length)
    throw new Error(`${ids.length - rows.rows.length} accepted payments missing`);
  const settle: number[] = [];
  const accept: number[] = [];
  let failed = 0;
  let lastSettledMs = 0;
  for (const row of rows.rows) {
    const sent = bench.payments.get(row.payment_id)!;
    const shouldFail = !sent.customer.funded;
    if (
      row.settled_at === null ||
      row.status !== (shouldFail ? 'FAILED' : 'COMPLETED') ||
      (shouldFail && row.failure_code !== 'INSUFFICIENT_BALANCE')
    ) {
      throw new Error(`payment ${row.payment_id} ended ${row.status} ${row.failure_code}`);
    }
    if (shouldFail) failed += 1;
    settle.push(Math.max(0, row.settled_at.getTime() - sent.sentAtMs));
    accept.push(sent.answeredAtMs - sent.sentAtMs);
    lastSettledMs = Math.max(lastSettledMs, row.settled_at.getTime());
  }

  // The legs, from each side's own timestamps.
  const createdAt = new Map(rows.rows.map((row) => [row.payment_id, row.created_at.getTime()]));
  const pointSettledAt = new Map(rows.rows.map((row) => [row.payment_id, row.settled_at!.getTime()]));
  const pointPublished = await publishedByPayment(bench.pointDb, ids);
  const coreRows = await sql<{ payment_id: string; settled_at: Date }>`
    select payment_id::text, settled_at from payments where payment_id = any(${ids}::uuid[])`.execute(
    bench.coreDb.db,
  );
  const corePublished = await publishedByPayment(bench.coreDb, ids);
  const legs = {
    pointRelay: [] as number[],
    toCore: [] as number[],
    coreRelay: [] as number[],
    back: [] as number[],
  };
  for (const row of coreRows.rows) {
    const id = row.payment_id;
    const created = createdAt.get(id)!;
    const published = pointPublished.get(id);
    const atCore = row.settled_at.getTime();
    const coreOut = corePublished.get(id);
    if (published === undefined || coreOut === undefined) continue;
    legs.pointRelay.push(published - created);
    legs.toCore.push(atCore - published);
    legs.coreRelay.push(coreOut - atCore);
    legs.back.push(pointSettledAt.get(id)! - coreOut);
  }
  return {
    phase,
    acceptedPerSecond: ids.length / ((lastAnsweredMs - startedAtMs) / 1_000),
    settledPerSecond: ids.length / ((lastSettledMs - startedAtMs) / 1_000),
    settle: percentiles(settle),
    accept: percentiles(accept),
    pointRelay: percentiles(legs.pointRelay),
    toCore: percentiles(legs.toCore),
    coreRelay: percentiles(legs.coreRelay),
    back: percentiles(legs.back),
    failedShare: failed / ids.length,
    cpu: cpu.cores,
    // The driver is the load generator, not the system.
    cpuMsPerPayment:
      (Object.entries(cpu.cores)
        .filter(([group]) => group !== 'driver')
        .reduce((sum, [, cores]) => sum + cores, 0) *
        cpu.seconds *
        1_000) /
      ids.length,
  };
}

/** When each payment's first outbox event was acked by Kafka (payment.requested at point, payment.settled at the core). */
async function publishedByPayment(database: Database<Json>, ids: string[]): Promise<Map<string, number>> {
  const wanted = new Set(ids);
  const rows = await sql<{ payload: string; published_at: Date | null }>`
    select payload, published_at from outbox where published_at is not null`.execute(database.db);
  const published = new Map<string, number>();
  for (const row of rows.rows) {
    const paymentId = (JSON.parse(row.payload) as { data: { paymentId?: string } }).data.paymentId;
    if (paymentId === undefined || !wanted.has(paymentId) || row.published_at === null) continue;
    const at = row.published_at.getTime();
    if (!published.has(paymentId) || published.get(paymentId)! > at) published.set(paymentId, at);
  }
  return published;
}

/** Points and cash of every user, read through the public API, against what the payments say. */
async function checkBalances(bench: Bench): Promise<void> {
  const usedPoints = new Map<string, number>();
  const usedCash = new Map<string, number>();
  const rows = await sql<{ payment_id: string; status: string }>`
    select payment_id, status from payments`.execute(bench.pointDb.db);
  for (const row of rows.rows) {
    const sent = bench.payments.get(row.payment_id);
    if (sent === undefined) throw new Error(`payment ${row.payment_id} was never accepted by this bench`);
    if (row.status === 'PENDING') throw new Error(`payment ${row.payment_id} still PENDING`);
    if (row.status !== 'COMPLETED') continue;
    const user = sent.customer.userUuid;
    usedPoints.set(user, (usedPoints.get(user) ?? 0) + pointAmount);
    usedCash.set(user, (usedCash.get(user) ?? 0) + sent.cashAmount);
  }
  if (rows.rows.length !== bench.payments.size)
    throw new Error(`${bench.payments.size} payments accepted, ${rows.rows.length} stored`);
  await inParallel(bench.customers.length, 16, async (index) => {
    const customer = bench.customers[index]!;
    const points = await call(bench.api, 'GET', '/api/v1/points', customer.authorization);
    const expectedPoints = pointsPerUser - (usedPoints.get(customer.userUuid) ?? 0);
    if (points.json?.balance !== expectedPoints)
      throw new Error(`points of ${customer.userUuid}: ${points.json?.balance}, expected ${expectedPoints}`);
    const account = await call(
      bench.api,
      'GET',
      `/api/v1/accounts/${customer.accountNo}`,
      customer.authorization,
    );
    const expectedCash = (customer.funded ? fundingPerAccount : 0) - (usedCash.get(customer.userUuid) ?? 0);
    if (account.json?.balance !== expectedCash)
      throw new Error(`cash of ${customer.accountNo}: ${account.json?.balance}, expected ${expectedCash}`);
  });
  for (const [service, url] of [
    ['point', bench.pointUrl],
    ['core-payment', bench.coreUrl],
  ] as const) {
    const internal = new Pool(url, { connections: 1 });
    try {
      const report = await call(
        internal,
        'GET',
        '/internal/v1/reconciliation',
        `Bearer ${bench.internalToken}`,
      );
      if (report.status !== 200 || report.json?.ok !== true)
        throw new Error(
          `${service} reconciliation: ${report.status} ${JSON.stringify(report.json).slice(0, 2_000)}`,
        );
    } finally {
      await internal.close();
    }
  }
}

async function openBench(system: TestSystem, options: PaymentSagaOptions): Promise<Bench> {
  const config = loadCliConfig(system.env);
  const pointUrl = system.env.NURI_POINT_URL!;
  const coreUrl = system.env.NURI_CORE_PAYMENT_URL!;
  const gatewayApi = new Pool(system.gatewayUrl, { connections: Math.max(options.concurrency, 256) });
  const api = options.direct
    ? new Pool(pointUrl, { connections: Math.max(options.concurrency, 256) })
    : gatewayApi;
  const pointDb = createMysqlDatabase<Json>({
    url: databaseUrl(config.NURI_MYSQL_URL, system.env.NURI_POINT_DB!),
    poolSizeMax: 2,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 60_000,
  });
  const coreDb = createPgDatabase<Json>({
    url: databaseUrl(config.NURI_PG_URL, system.env.NURI_CORE_PAYMENT_DB!),
    poolSizeMax: 2,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 60_000,
    applicationName: 'bench-payment-saga',
  });
  const customers = await createCustomers(gatewayApi, options);
  if (options.direct) await gatewayApi.close();
  return {
    system,
    api,
    internalToken: environmentWithSecrets(system.env).NURI_INTERNAL_TOKEN_OPS!,
    pointUrl,
    coreUrl,
    pointDb,
    coreDb,
    customers,
    funded: customers.filter((customer) => customer.funded),
    unfunded: customers.filter((customer) => !customer.funded),
    payments: new Map(),
    orderSeq: 0,
  };
}

async function closeBench(bench: Bench): Promise<void> {
  await bench.api.close();
  await bench.pointDb.close();
  await bench.coreDb.close();
}

function summary(values: number[], digits = 0): string {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return 'n/a';
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${median.toFixed(digits)} [${sorted[0]!.toFixed(digits)}–${sorted.at(-1)!.toFixed(digits)}]`;
}

function summaryOf(
  results: PhaseResult[][],
  phase: Phase,
  read: (result: PhaseResult) => number,
  digits = 0,
): string {
  return summary(
    results.map((phases) => read(phases.find((result) => result.phase === phase)!)),
    digits,
  );
}

function describe(result: PhaseResult): string {
  const legs = (name: string, value: Percentiles) => `${name} ${value.p50}/${value.p99}`;
  const cpu = Object.entries(result.cpu)
    .sort(([, a], [, b]) => b - a)
    .map(([group, cores]) => `${group} ${cores.toFixed(2)}`)
    .join(', ');
  return (
    `accepted ${result.acceptedPerSecond.toFixed(0)}/s, settled ${result.settledPerSecond.toFixed(0)}/s, ` +
    `settle p50 ${result.settle.p50} ms p99 ${result.settle.p99} ms, failed ${(result.failedShare * 100).toFixed(1)}%\n` +
    `    legs p50/p99 ms: ${[
      legs('accept', result.accept),
      legs('point relay', result.pointRelay),
      legs('to core', result.toCore),
      legs('core relay', result.coreRelay),
      legs('back', result.back),
    ].join(', ')}\n` +
    `    cpu cores: ${cpu}; ${result.cpuMsPerPayment.toFixed(2)} ms of CPU per payment without the driver`
  );
}

/** Runs the scenario against a started system; prints as it goes and returns every phase of every run. */
export async function measurePaymentSaga(
  system: TestSystem,
  options: PaymentSagaOptions,
  log: (line: string) => void = console.log,
): Promise<PhaseResult[][]> {
  const bench = await openBench(system, options);
  const results: PhaseResult[][] = [];
  try {
    if (options.warmup > 0) {
      await runClosed(bench, { ...options, payments: options.warmup }, []);
      await waitTerminal(bench);
      log(`warm-up: ${options.warmup} payments (not measured)`);
    }
    for (let run = 1; run <= options.runs; run += 1) {
      const phases: PhaseResult[] = [];
      for (const phase of options.phases) {
        const result = await runPhase(bench, options, phase);
        phases.push(result);
        log(`run ${run} ${phase}: ${describe(result)}`);
      }
      await checkBalances(bench);
      log(`run ${run}: every payment terminal as expected; points, cash and both reconciliations agree`);
      results.push(phases);
    }
  } finally {
    await closeBench(bench);
  }
  for (const phase of options.phases) {
    const column = (read: (result: PhaseResult) => number) => summaryOf(results, phase, read);
    const label = phase === 'open' ? `offered ${options.rate}/s` : `closed loop of ${options.concurrency}`;
    log(`${label}:`);
    log(
      `  accepted/s     ${column((result) => result.acceptedPerSecond)}   (target ≥ ${targets.acceptedPerSecond})`,
    );
    log(`  settled/s      ${column((result) => result.settledPerSecond)}`);
    log(`  settle p50 ms  ${column((result) => result.settle.p50)}`);
    log(`  settle p99 ms  ${column((result) => result.settle.p99)}   (target ≤ ${targets.settleP99Ms})`);
    log(`  CPU ms/payment ${summaryOf(results, phase, (result) => result.cpuMsPerPayment, 2)}`);
  }
  return results;
}

export function parsePaymentSagaArgs(argv: string[]): PaymentSagaOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      payments: { type: 'string', default: '10000' },
      users: { type: 'string', default: '200' },
      rate: { type: 'string', default: String(targets.acceptedPerSecond) },
      concurrency: { type: 'string', default: '64' },
      failing: { type: 'string', default: '0.3' },
      phases: { type: 'string', default: 'open,closed' },
      direct: { type: 'boolean', default: false },
      warmup: { type: 'string', default: '2000' },
    },
  });
  const phases = values.phases.split(',').map((phase) => {
    if (phase !== 'open' && phase !== 'closed') throw new Error(`unknown phase ${phase}`);
    return phase as Phase;
  });
  return {
    runs: Number(values.runs),
    payments: Number(values.payments),
    users: Number(values.users),
    rate: Number(values.rate),
    concurrency: Number(values.concurrency),
    failing: Number(values.failing),
    phases,
    direct: values.direct,
    warmup: Number(values.warmup),
  };
}

if (import.meta.main) {
  const options = parsePaymentSagaArgs(process.argv.slice(2));
  process.env.NURI_E2E_LOG_LEVEL ??= 'warn';
  const system = await startTestSystem();
  try {
    console.log(
      `payment saga: ${options.payments} payments per phase, ${options.users} users, ${options.failing * 100}% failing, ` +
        `${options.direct ? 'straight at point' : 'through the gateway'}; the system as npm start runs it`,
    );
    await measurePaymentSaga(system, options);
  } finally {
    await system.shutdown();
  }
}
