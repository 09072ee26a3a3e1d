// core-payment throughput, three scenarios per run, repeated (median and spread):
//  (a) deposits/s from Kafka into the ledger: N deposit.requested over A accounts,
//      timed from the first produce until every deposit has its outcome row;
//  (b) withdrawals/s over HTTP with autocannon: C connections over the A accounts
//      (p99 reported), then the same load on ONE hot account (correctness checked);
//  (c) pgbench simple-update (-N) on a throwaway database: PostgreSQL's own ceiling
//      on this machine in the same run, and our withdrawal rate as a share of it.
// core-payment runs in a child process (this file with `serve`), so the load
// generator and the service do not share an event loop.
//
//   node bench/core-payment.ts [--runs 3] [--deposits 50000] [--accounts 1000]
//                              [--connections 50] [--duration-s 10] [--pool 20]
//                              [--withdrawal-batch 64] [--withdrawal-lanes 1]
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { createEvent, messageKey, newEventId } from '@nuri/contracts/events';
import { createPgDatabase, dropPgDatabase, ensurePgDatabase, migrateToLatest } from '@nuri/platform/db';
import { runServer } from '@nuri/platform/http';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { databaseUrl } from '@nuri/platform/service';
import { sql } from 'kysely';
import { buildApp } from '../services/core-payment/src/app.ts';
import type { ServiceDb } from '../services/core-payment/src/db/database.ts';
import { migrations } from '../services/core-payment/src/db/migrations.ts';
import { defaultWithdrawalBatching } from '../services/core-payment/src/db/withdrawals-repository.ts';
import { createEventRuntime } from '../services/core-payment/src/events/runtime.ts';
import { type CorePaymentTopics, topicsToEnsure } from '../services/core-payment/src/events/topics.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    deposits: { type: 'string', default: '50000' },
    accounts: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '50' },
    'duration-s': { type: 'string', default: '10' },
    pool: { type: 'string', default: '20' },
    'deposit-batch': { type: 'string', default: '1000' },
    'deposit-consumers': { type: 'string', default: '2' },
    'withdrawal-batch': { type: 'string', default: String(defaultWithdrawalBatching.batchSizeMax) },
    'withdrawal-lanes': { type: 'string', default: String(defaultWithdrawalBatching.lanes) },
    partitions: { type: 'string', default: '4' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'pg-admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    // Used by the child only.
    database: { type: 'string' },
    'topic-base': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
  },
});

const execFileAsync = promisify(execFile);
const brokers = args.brokers.split(',');
const pgAdminUrl = args['pg-admin-url'];
const internalToken = randomBytes(24).toString('hex');
const depositAmount = 100_000_000;
const withdrawalAmount = 1;
const drainTimeoutMs = 300_000;

function topicsFor(base: string): CorePaymentTopics {
  return {
    depositRequested: `${base}.deposit.requested`,
    depositSettled: `${base}.deposit.settled`,
    paymentRequested: `${base}.payment.requested`,
    paymentSettled: `${base}.payment.settled`,
    couponIssued: `${base}.coupon.issued`,
    couponRecorded: `${base}.coupon.recorded`,
  };
}

// ---------------------------------------------------------------- child: the service

async function serve(): Promise<void> {
  const name = args.database!;
  const token = process.env.BENCH_INTERNAL_TOKEN!;
  const logger = createLogger({ name: 'core-payment-bench', level: args['log-level'] as 'warn' });
  const database = createPgDatabase<ServiceDb>({
    url: databaseUrl(pgAdminUrl, name),
    poolSizeMax: Number(args.pool),
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
    applicationName: 'core-payment-bench',
  });
  const metrics = createMetrics('core-payment');
  const events = createEventRuntime({
    db: database.db,
    brokers,
    topics: topicsFor(args['topic-base']!),
    groupIds: { deposits: `${name}.deposits`, payments: `${name}.payments`, coupons: `${name}.coupons` },
    batchSizesMax: { deposits: Number(args['deposit-batch']), payments: 200, coupons: 500, outbox: 2_000 },
    depositConsumers: Number(args['deposit-consumers']),
    logger,
    registry: metrics.registry,
    listenUrl: databaseUrl(pgAdminUrl, name),
  });
  const app = buildApp({
    logger,
    metrics,
    database,
    kafkaBrokers: brokers,
    internalCallers: { 'channel-user': token },
    withdrawalBatching: {
      ...defaultWithdrawalBatching,
      batchSizeMax: Number(args['withdrawal-batch']),
      lanes: Number(args['withdrawal-lanes']),
    },
  });
  await events.start();
  const server = await runServer(app, {
    host: '127.0.0.1',
    port: 0,
    onShutdown: [() => events.stop(), () => database.close()],
  });
  process.send?.({ port: server.port });
}

// ---------------------------------------------------------------- parent: the load

type Account = { accountNo: string; userUuid: string };

interface RunFigures {
  depositsPerSecond: number;
  produceSeconds: number;
  withdrawalsPerSecond: number;
  withdrawalP99Ms: number;
  withdrawalP50Ms: number;
  withdrawalErrors: number;
  hotPerSecond: number;
  hotP99Ms: number;
  hotCorrect: boolean;
  pgbenchTps: number;
}

async function main(): Promise<void> {
  const runs = Number(args.runs);
  const name = `bench_cp_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
  const topicBase = `bench.${name}`;
  const topics = topicsFor(topicBase);
  await ensurePgDatabase(pgAdminUrl, name);
  const database = createPgDatabase<ServiceDb>({
    url: databaseUrl(pgAdminUrl, name),
    poolSizeMax: 2,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 60_000,
    applicationName: 'core-payment-bench-probe',
  });
  await migrateToLatest(database.db, migrations);
  await ensureTopics({
    brokers,
    topics: topicsToEnsure(topics).map((topic) => ({ name: topic, partitions: Number(args.partitions) })),
  });
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      'serve',
      ...[
        '--database',
        name,
        '--topic-base',
        topicBase,
        '--pool',
        args.pool,
        '--log-level',
        args['log-level'],
      ],
      ...[
        '--deposit-batch',
        args['deposit-batch'],
        '--deposit-consumers',
        args['deposit-consumers'],
        '--withdrawal-batch',
        args['withdrawal-batch'],
        '--withdrawal-lanes',
        args['withdrawal-lanes'],
        '--brokers',
        args.brokers,
        '--pg-admin-url',
        pgAdminUrl,
      ],
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, BENCH_INTERNAL_TOKEN: internalToken },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const producer = createEventProducer({ brokers, clientId: 'core-payment-bench', inFlightMax: 8 });
  const figures: RunFigures[] = [];
  try {
    const accounts = await openAccounts(baseUrl, Number(args.accounts));
    log(`opened ${accounts.length} accounts; service on ${baseUrl}`);
    for (let run = 1; run <= runs; run += 1) {
      const deposits = await benchDeposits(database.db, producer, topics, accounts, run);
      const spread = await benchWithdrawals(baseUrl, accounts, `r${run}`);
      const hot = await benchHotAccount(baseUrl, database.db, accounts[0]!, `h${run}`);
      const pgbenchTps = await benchPgbench();
      const figure: RunFigures = {
        ...deposits,
        withdrawalsPerSecond: spread.perSecond,
        withdrawalP99Ms: spread.p99Ms,
        withdrawalP50Ms: spread.p50Ms,
        withdrawalErrors: spread.errors,
        hotPerSecond: hot.perSecond,
        hotP99Ms: hot.p99Ms,
        hotCorrect: hot.correct,
        pgbenchTps,
      };
      figures.push(figure);
      log(`run ${run}: ${JSON.stringify(figure)}`);
    }
    const reconciliation = await fetch(`${baseUrl}/internal/v1/reconciliation`, {
      headers: { authorization: `Bearer ${internalToken}` },
    }).then((response) => response.json() as Promise<{ ok: boolean; accountsChecked: number }>);
    printSummary(figures, reconciliation.ok);
  } finally {
    await producer.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await database.close();
    await dropPgDatabase(pgAdminUrl, name);
    await deleteTopics(brokers, topicsToEnsure(topics)).catch(() => {});
  }
}

function log(message: string): void {
  process.stderr.write(`[bench core-payment] ${message}\n`);
}

async function openAccounts(baseUrl: string, count: number): Promise<Account[]> {
  const accounts: Account[] = [];
  const concurrency = 20;
  for (let start = 0; start < count; start += concurrency) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(concurrency, count - start) }, async () => {
        const userUuid = randomUuid();
        const response = await fetch(`${baseUrl}/internal/v1/accounts`, {
          method: 'POST',
          headers: { authorization: `Bearer ${internalToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ userUuid }),
        });
        if (response.status !== 201)
          throw new Error(`open account: ${response.status} ${await response.text()}`);
        return { accountNo: ((await response.json()) as { accountNo: string }).accountNo, userUuid };
      }),
    );
    accounts.push(...batch);
  }
  return accounts;
}

function randomUuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

async function benchDeposits(
  db: ReturnType<typeof createPgDatabase<ServiceDb>>['db'],
  producer: ReturnType<typeof createEventProducer>,
  topics: CorePaymentTopics,
  accounts: Account[],
  run: number,
): Promise<{ depositsPerSecond: number; produceSeconds: number }> {
  const total = Number(args.deposits);
  const events = Array.from({ length: total }, (_, index) => {
    const account = accounts[index % accounts.length]!;
    return createEvent(
      'deposit.requested',
      {
        depositId: newEventId(),
        accountNo: account.accountNo,
        userUuid: account.userUuid,
        amount: depositAmount,
        requestedAt: new Date().toISOString(),
      },
      { source: 'bench', correlationId: `bench-${run}-${index}` },
    );
  });
  // Ids are UUIDv7 from one process, so this run's deposits are exactly the
  // primary-key range from its first id: the poll below walks that range and
  // never scans earlier runs' rows (a full count(*) every 50 ms took ~12 ms of
  // PostgreSQL CPU by run 5, CPU the ledger was competing for).
  const firstDepositId = events[0]!.data.depositId;
  const startedAt = performance.now();
  const chunk = 2_000;
  const sends: Promise<void>[] = [];
  for (let start = 0; start < events.length; start += chunk) {
    sends.push(
      producer.sendEvents(
        events
          .slice(start, start + chunk)
          .map((event) => ({ topic: topics.depositRequested, key: messageKey(event), event })),
      ),
    );
  }
  await Promise.all(sends);
  const producedAt = performance.now();
  const deadline = Date.now() + drainTimeoutMs;
  for (;;) {
    const { rows } = await sql<{ settled: string }>`
      select count(*) as settled from deposits where deposit_id >= ${firstDepositId}::uuid`.execute(db);
    if (Number(rows[0]!.settled) >= total) break;
    if (Date.now() > deadline) throw new Error(`deposits not drained: ${rows[0]!.settled}/${total}`);
    await sleep(50);
  }
  const seconds = (performance.now() - startedAt) / 1_000;
  return { depositsPerSecond: Math.round(total / seconds), produceSeconds: (producedAt - startedAt) / 1_000 };
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
  duration: number;
}
type AutocannonRequest = { method: string; path: string; headers: Record<string, string>; body?: string };
type Autocannon = (options: object) => Promise<AutocannonResult>;
// autocannon ships no type declarations; the shape used here is declared above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function withdrawalLoad(baseUrl: string, pick: (sequence: number) => Account, keyPrefix: string) {
  let sequence = 0;
  return {
    url: baseUrl,
    connections: Number(args.connections),
    duration: Number(args['duration-s']),
    requests: [
      {
        method: 'POST',
        setupRequest: (request: AutocannonRequest): AutocannonRequest => {
          sequence += 1;
          const account = pick(sequence);
          return {
            ...request,
            method: 'POST',
            path: `/internal/v1/accounts/${account.accountNo}/withdrawals`,
            headers: { authorization: `Bearer ${internalToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              userUuid: account.userUuid,
              amount: withdrawalAmount,
              idempotencyKey: `${keyPrefix}-${sequence}`,
            }),
          };
        },
      },
    ],
  };
}

async function benchWithdrawals(baseUrl: string, accounts: Account[], keyPrefix: string) {
  const result = await autocannon(
    withdrawalLoad(baseUrl, (sequence) => accounts[sequence % accounts.length]!, keyPrefix),
  );
  return {
    perSecond: Math.round(result['2xx'] / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

async function benchHotAccount(
  baseUrl: string,
  db: ReturnType<typeof createPgDatabase<ServiceDb>>['db'],
  account: Account,
  keyPrefix: string,
) {
  // One statement, one snapshot: balance and ledger count must be read together.
  const snapshot = async () => {
    const { rows } = await sql<{ balance: string; withdrawals: string }>`
      select balance, (select count(*) from ledger_transactions
                       where account_no = ${account.accountNo} and type = 'WITHDRAWAL') as withdrawals
      from accounts where account_no = ${account.accountNo}`.execute(db);
    return { balance: BigInt(rows[0]!.balance), count: Number(rows[0]!.withdrawals) };
  };
  // Requests autocannon abandoned at the end of the previous phase may still be finishing.
  await sleep(1_000);
  const before = await snapshot();
  const result = await autocannon(withdrawalLoad(baseUrl, () => account, keyPrefix));
  await sleep(1_000);
  const after = await snapshot();
  const [balanceBefore, countBefore, balanceAfter, countAfter] = [
    before.balance,
    before.count,
    after.balance,
    after.count,
  ];
  const succeeded = result['2xx'];
  const debits = countAfter - countBefore;
  // Every debit has exactly one ledger transaction and nothing else moved the balance. autocannon
  // abandons the requests in flight when time is up, so up to one per connection may have been
  // applied without its 200 being counted.
  const correct =
    balanceBefore - balanceAfter === BigInt(debits * withdrawalAmount) &&
    debits >= succeeded &&
    debits <= succeeded + Number(args.connections) &&
    result.non2xx === 0;
  if (!correct)
    log(
      `hot account check failed: ${JSON.stringify({ succeeded, debits, non2xx: result.non2xx, before: String(balanceBefore), after: String(balanceAfter) })}`,
    );
  return { perSecond: Math.round(succeeded / result.duration), p99Ms: result.latency.p99, correct };
}

// Asynchronous on purpose: a blocked event loop cannot see the service close
// an idle keep-alive socket, and the next request would be written into it.
async function benchPgbench(): Promise<number> {
  const name = `bench_pgbench_${randomBytes(3).toString('hex')}`;
  const url = new URL(pgAdminUrl);
  const connection = [
    '-h',
    decodeURIComponent(url.hostname),
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
  ];
  const run = async (command: string, argv: string[]) => {
    try {
      return (await execFileAsync(command, [...connection, ...argv, name], { encoding: 'utf8' })).stdout;
    } catch (error) {
      throw new Error(
        `${command} ${argv.join(' ')} failed: ${(error as { stderr?: string }).stderr ?? error}`,
      );
    }
  };
  await run('createdb', []);
  try {
    await run('pgbench', ['-i', '-q']);
    const output = await run('pgbench', ['-N', '-c', args.connections, '-j', '2', '-T', args['duration-s']]);
    const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
    if (match === null) throw new Error(`pgbench output without tps: ${output}`);
    return Math.round(Number(match[1]));
  } finally {
    await run('dropdb', ['--force']).catch(() => {});
  }
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `median ${median} (min ${sorted[0]}, max ${sorted.at(-1)})`;
}

function printSummary(figures: RunFigures[], reconciled: boolean): void {
  const pick = (field: keyof RunFigures) => figures.map((figure) => Number(figure[field]));
  const ratios = figures.map(
    (figure) => Math.round((figure.withdrawalsPerSecond / figure.pgbenchTps) * 100) / 100,
  );
  const lines = [
    `core-payment bench: ${figures.length} runs, ${args.deposits} deposits over ${args.accounts} accounts, ` +
      `${args.connections} connections for ${args['duration-s']} s; withdrawals in batches of ≤ ${args['withdrawal-batch']}, ` +
      `${args['withdrawal-lanes']} lanes`,
    `(a) deposits applied/s (Kafka → ledger, end to end)  ${stats(pick('depositsPerSecond'))}   target ≥ 10000`,
    `    of which producing took s                        ${stats(pick('produceSeconds').map((s) => Math.round(s * 100) / 100))}`,
    `(b) withdrawals/s over ${args.accounts} accounts              ${stats(pick('withdrawalsPerSecond'))}   target ≥ 5000`,
    `    p50 latency ms                                    ${stats(pick('withdrawalP50Ms'))}`,
    `    p99 latency ms                                    ${stats(pick('withdrawalP99Ms'))}   target ≤ 20`,
    `    non-2xx / errors                                  ${stats(pick('withdrawalErrors'))}`,
    `    one hot account: withdrawals/s                    ${stats(pick('hotPerSecond'))}`,
    `    one hot account: p99 ms                           ${stats(pick('hotP99Ms'))}`,
    `    one hot account: every 200 = one debit            ${figures.every((figure) => figure.hotCorrect)}`,
    `(c) pgbench -N -c ${args.connections} -j 2 tps                     ${stats(pick('pgbenchTps'))}`,
    `    withdrawals/s ÷ pgbench tps                       ${stats(ratios)}`,
    `reconciliation after the runs ok                      ${reconciled}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (positionals[0] === 'serve') {
  await serve();
} else {
  await main();
}
