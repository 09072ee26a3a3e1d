// The machine's own ceilings, measured in the same run as the scenarios so
// that each figure can be read as a share of what this host can do at all.
import { execFile, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { configDefaults } from '@nuri/platform/config';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import { createRedis } from '@nuri/platform/redis';
import { createPasswordHasher } from '../../services/channel-user/src/auth/passwords.ts';
import {
  type Config as CouponConfig,
  ConfigSchema as CouponConfigSchema,
} from '../../services/coupon/src/config.ts';
import { newCouponCode } from '../../services/coupon/src/domain/coupon-code.ts';
import {
  createCouponHandOff,
  handOffProducerInFlightMax,
} from '../../services/coupon/src/events/hand-off.ts';
import { campaignKeys } from '../../services/coupon/src/redis/campaign-store.ts';
import { issueScript } from '../../services/coupon/src/redis/scripts.ts';
import { bareProxyGroup, cpuBreakdown, cpuMsPerOperation, cpuSnapshot } from './machine.ts';
import { runOpenLoop } from './open-loop.ts';
import { progress } from './progress.ts';
import type { CeilingReport } from './report.ts';
import type { CeilingName, SuiteContext } from './scenario.ts';
import { digitsForUnit, formatNumber, type Spread, spreadOf } from './stats.ts';

const run = promisify(execFile);
const commandTimeoutMs = 120_000;
/** Connections (clients) for every ceiling loaded over the network: the scenarios' default. */
const ceilingConnections = 50;

export interface CeilingEnvironment {
  repoRoot: string;
  pgUrl: string;
  redisUrl: string;
  brokers: string[];
}

interface Measurement {
  value: number;
  loadGeneratorShare?: number;
  /** Routes of the system only: CPU ms of every system process per answered request (as a scenario's CPU per operation). */
  cpuMsPerRequest?: number;
  /** jwks-gateway: the gateway process's own CPU ms per answered request (its hop, as bare-proxy's is the proxy's). */
  gatewayCpuMsPerRequest?: number;
  /** The latency at a fixed rate (route ceilings: a light one, where no queue builds; else its own). */
  lightLoad?: LightLoad;
}

interface LightLoad {
  p50Ms: number;
  p99Ms: number;
  ratePerSecond?: number;
  /** Route ceilings: CPU ms of every system process per request answered at that rate. */
  cpuMsPerRequest?: number;
  /** Route ceilings: CPU ms a second the system spent with no load at all, just before. */
  idleCpuMsPerSecond?: number;
}

interface CeilingDefinition {
  name: CeilingName;
  title: string;
  unit: string;
  how: string;
  measure(context: SuiteContext, environment: CeilingEnvironment): Promise<Measurement>;
  /** Unmeasured load first, so that run 1 does not measure the JIT (a cold gateway runs at half speed). */
  warmUp?(context: SuiteContext): Promise<void>;
  /** It loads a route of the system (the others need only the machine and the shared servers). */
  usesSystem?: boolean;
}

const warmUpS = 2;

/**
 * The rate at which the route ceilings also measure latency. At saturation a
 * closed loop's latency is mostly its own queue (connections ÷ rate), so the
 * gateway's added latency is read here, well below either ceiling.
 */
export const lightLoadRatePerSecond = 500;
const lightLoadDurationS = 4;
/** How long the idle system is watched before the light load (its background: timers, consumers' polls, probes). */
const idleWindowMs = 2_000;

/** What routeRate reads from the CPU beside the system's total per request. */
interface CpuShares {
  /** Count only these process groups in cpuMsPerRequest (the bare proxy: its own process). */
  groups?: readonly string[];
  /** jwks-gateway: also report this group's own share, the gateway's hop. */
  hopGroup?: string;
}

async function routeRate(
  context: SuiteContext,
  url: string,
  path: string,
  label: string,
  durationS = context.options.ceilingDurationS,
  shares: CpuShares = {},
): Promise<Measurement> {
  const { load, cpu } = await context.load(
    {
      url,
      mode: 'closed',
      connections: ceilingConnections,
      durationS,
      templates: [{ method: 'GET', path }],
      timeoutS: 10,
    },
    label,
  );
  const answered = load.statuses['200'] ?? 0;
  // No answer, no cost per answer (rather than an infinity that JSON writes as null).
  if (answered === 0) return { value: 0, loadGeneratorShare: load.cpu.machineShare };
  const perRequest = cpuMsPerOperation(cpu, context.cores, answered, shares.groups);
  const hop = shares.hopGroup === undefined ? undefined : perRequest.byGroup[shares.hopGroup];
  return {
    value: answered / load.durationS,
    loadGeneratorShare: load.cpu.machineShare,
    cpuMsPerRequest: perRequest.total,
    ...(hop === undefined ? {} : { gatewayCpuMsPerRequest: hop }),
  };
}

/**
 * The route at the light rate: its latency, and what a request costs in CPU
 * when requests come one at a time (each wakes every process it crosses, and
 * the idle system's own background is shared by few requests), beside the
 * idle system's CPU a second, watched just before.
 */
async function lightLoad(
  context: SuiteContext,
  url: string,
  path: string,
  label: string,
): Promise<LightLoad> {
  const idleFrom = cpuSnapshot();
  await sleep(idleWindowMs);
  const idle = cpuBreakdown(idleFrom, cpuSnapshot(), context.cores);
  const { load, cpu } = await context.load(
    {
      url,
      mode: 'open',
      connections: ceilingConnections,
      rate: lightLoadRatePerSecond,
      durationS: lightLoadDurationS,
      templates: [{ method: 'GET', path }],
      timeoutS: 10,
    },
    label,
  );
  const answered = load.statuses['200'] ?? 0;
  return {
    p50Ms: load.latency.p50Ms,
    p99Ms: load.latency.p99Ms,
    ...(answered === 0 ? {} : { cpuMsPerRequest: cpuMsPerOperation(cpu, context.cores, answered).total }),
    // Per second of the window: ms of CPU over seconds as the "operations".
    idleCpuMsPerSecond: cpuMsPerOperation(idle, context.cores, idle.windowS).total,
  };
}

/** The route both route ceilings load: channel-user's full plumbing, no auth, no database. */
const jwksPath = '/.well-known/jwks.json';

/** The route's ceiling (closed loop, saturated), then its latency at the light rate. */
async function routeCeiling(
  context: SuiteContext,
  url: string,
  label: string,
  shares: CpuShares = {},
): Promise<Measurement> {
  const saturated = await routeRate(context, url, jwksPath, label, context.options.ceilingDurationS, shares);
  return { ...saturated, lightLoad: await lightLoad(context, url, jwksPath, `${label} light`) };
}

/** Forks one of the suite's bare servers and waits for the port it listens on. */
async function forkServer(
  file: string,
  args: readonly string[],
  label: string,
): Promise<{ port: number; stop: () => void }> {
  const server = fork(fileURLToPath(new URL(file, import.meta.url)), [...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = () => void server.kill('SIGTERM');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.once('message', (message) => resolve((message as { port: number }).port));
      server.once('exit', (code) => reject(new Error(`${label} exited with ${code}`)));
    });
    return { port, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

async function bareFastify(context: SuiteContext): Promise<Measurement> {
  const server = await forkServer('./bare-server.ts', [], 'bare server');
  try {
    const url = `http://127.0.0.1:${server.port}`;
    // A new server each run: it warms up before it is measured.
    await routeRate(context, url, '/', 'warm-up', warmUpS);
    const { value, loadGeneratorShare } = await routeRate(context, url, '/', 'bare-fastify');
    // Its server is none of the system's processes: the system's CPU per request would say nothing.
    return { value, ...(loadGeneratorShare === undefined ? {} : { loadGeneratorShare }) };
  } finally {
    server.stop();
  }
}

/**
 * The least a hop costs here: bare-server.ts's route through bare-proxy.ts
 * (node:http in, an undici Pool out, nothing else), each its own process.
 * Its CPU per request is the proxy process's alone (machine.ts's "bare
 * proxy" group), to set beside the gateway process's own per jwks-gateway
 * request (report.ts, gatewayHopCpu).
 */
async function bareProxy(context: SuiteContext): Promise<Measurement> {
  const upstream = await forkServer('./bare-server.ts', [], 'bare server');
  try {
    const proxy = await forkServer('./bare-proxy.ts', [`http://127.0.0.1:${upstream.port}`], 'bare proxy');
    try {
      const url = `http://127.0.0.1:${proxy.port}`;
      await routeRate(context, url, '/', 'warm-up', warmUpS);
      return await routeRate(context, url, '/', 'bare-proxy', context.options.ceilingDurationS, {
        groups: [bareProxyGroup],
      });
    } finally {
      proxy.stop();
    }
  } finally {
    upstream.stop();
  }
}

/**
 * The issue script behind a bare route (issue-route-server.ts): a campaign of
 * --quantity coupons and the rush's crowd of --crowd users round-robin, so
 * that, as in the rush, the first requests issue and the rest are refused.
 */
async function issueRoute(context: SuiteContext, environment: CeilingEnvironment): Promise<Measurement> {
  const server = await forkServer('./issue-route-server.ts', [environment.redisUrl], 'issue-route server');
  const redis = createRedis({ url: environment.redisUrl, name: 'bench-ceiling', commandTimeoutMs: 30_000 });
  const campaigns: string[] = [];
  const { port } = server;
  const campaign = async (quantity: number) => {
    const campaignId = `bench-ceiling-${randomBytes(6).toString('hex')}`;
    campaigns.push(campaignId);
    await redis.hset(campaignKeys(campaignId).meta, {
      quantity,
      remaining: quantity,
      startsAt: '',
      endsAt: '',
    });
    return campaignId;
  };
  const templates = (campaignId: string) =>
    Array.from({ length: context.options.crowd }, (_, index) => ({
      method: 'POST' as const,
      path: `/issue/${campaignId}`,
      headers: { 'x-user': `bench-user-${index}` },
    }));
  const rate = async (campaignId: string, label: string, durationS: number): Promise<Measurement> => {
    const { load } = await context.load(
      {
        url: `http://127.0.0.1:${port}`,
        mode: 'closed',
        connections: ceilingConnections,
        durationS,
        templates: templates(campaignId),
        timeoutS: 10,
      },
      label,
    );
    const answered = Object.entries(load.statuses)
      .filter(([status]) => !status.startsWith('5'))
      .reduce((sum, [, count]) => sum + count, 0);
    return { value: answered / load.durationS, loadGeneratorShare: load.cpu.machineShare };
  };
  try {
    // A new server each run: it warms up (on a campaign that never sells out) before it is measured.
    await rate(await campaign(100_000_000), 'warm-up', warmUpS);
    return await rate(
      await campaign(context.options.rushQuantity),
      'issue-route',
      context.options.ceilingDurationS,
    );
  } finally {
    server.stop();
    for (const campaignId of campaigns) {
      const keys = campaignKeys(campaignId);
      await redis.del(keys.meta, keys.holders, keys.pending, keys.unconfirmed);
    }
    await redis.quit();
  }
}

async function redisEvalsha(context: SuiteContext, environment: CeilingEnvironment): Promise<Measurement> {
  const redis = createRedis({ url: environment.redisUrl, name: 'bench-ceiling', commandTimeoutMs: 30_000 });
  const keys = campaignKeys(`bench-ceiling-${randomBytes(6).toString('hex')}`);
  const requests = Math.max(10_000, context.options.rushRequests);
  try {
    await redis.hset(keys.meta, {
      quantity: requests * 2,
      remaining: requests * 2,
      startsAt: '',
      endsAt: '',
    });
    const sha = String(await redis.script('LOAD', issueScript));
    const url = new URL(environment.redisUrl);
    // Every call a new user (-r fills __rand_int__), so every call is an issue, as in a rush.
    const { stdout } = await run(
      'redis-benchmark',
      [
        ...[
          '-h',
          url.hostname,
          '-p',
          url.port || '6379',
          '-n',
          String(requests),
          '-c',
          String(ceilingConnections),
        ],
        // Every key the script declares (the campaign store passes the same four).
        ...[
          '-r',
          '100000000',
          '-q',
          'EVALSHA',
          sha,
          '4',
          keys.meta,
          keys.holders,
          keys.pending,
          keys.unconfirmed,
        ],
        ...['user:__rand_int__', '0190a000-0000-7000-8000-000000000000', 'BENC-HMAR-KCOD', ''],
      ],
      { timeout: commandTimeoutMs },
    );
    const match = /([\d.]+) requests per second/.exec(stdout);
    if (match === null) throw new Error(`redis-benchmark said: ${stdout.slice(0, 300)}`);
    return { value: Number(match[1]) };
  } finally {
    await redis.del(keys.meta, keys.holders, keys.pending, keys.unconfirmed);
    await redis.quit();
  }
}

async function pgbenchSimpleUpdate(
  context: SuiteContext,
  environment: CeilingEnvironment,
): Promise<Measurement> {
  const url = new URL(environment.pgUrl);
  const connection = [
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
  ];
  const database = `bench_pgbench_${randomBytes(4).toString('hex')}`;
  await run('createdb', [...connection, database], { timeout: commandTimeoutMs });
  try {
    await run('pgbench', [...connection, '-i', '-q', database], { timeout: commandTimeoutMs });
    const { stdout } = await run(
      'pgbench',
      [
        ...connection,
        '-N',
        '-c',
        String(ceilingConnections),
        '-j',
        '2',
        '-T',
        String(context.options.ceilingDurationS),
        database,
      ],
      { timeout: commandTimeoutMs },
    );
    const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
    if (match === null) throw new Error(`pgbench said: ${stdout.slice(-300)}`);
    return { value: Number(match[1]) };
  } finally {
    await run('dropdb', [...connection, '--force', database], { timeout: commandTimeoutMs }).catch(
      () => undefined,
    );
  }
}

/** About the size of one of our events on the wire (a deposit.requested envelope). */
const kafkaRecordBytes = 400;
const kafkaRecords = 200_000;

async function kafkaProducer(_context: SuiteContext, environment: CeilingEnvironment): Promise<Measurement> {
  const topic = `bench.ceiling.${randomBytes(4).toString('hex')}`;
  await ensureTopics({ brokers: environment.brokers, topics: [{ name: topic, partitions: 6 }] });
  try {
    // The broker's own kafka-producer-perf-test, from the jars nuri runs the broker with.
    const { stdout } = await run(
      'java',
      [
        ...['-Xmx256m', '-cp', `${join(environment.repoRoot, '.cache', 'kafka', 'libs')}/*`],
        'org.apache.kafka.tools.ProducerPerformance',
        ...[
          '--topic',
          topic,
          '--num-records',
          String(kafkaRecords),
          '--record-size',
          String(kafkaRecordBytes),
        ],
        ...[
          '--throughput',
          '-1',
          '--producer-props',
          `bootstrap.servers=${environment.brokers.join(',')}`,
          'acks=all',
        ],
      ],
      { timeout: commandTimeoutMs, maxBuffer: 16 * 1024 * 1024 },
    );
    const match = /records sent, ([\d.]+) records\/sec/.exec(stdout.trim().split('\n').at(-1) ?? '');
    if (match === null) throw new Error(`ProducerPerformance said: ${stdout.slice(-300)}`);
    return { value: Number(match[1]) };
  } finally {
    await deleteTopics(environment.brokers, [topic]).catch(() => undefined);
  }
}

const handOffWarmUpS = 1;

const couponDefaults = configDefaults(CouponConfigSchema);

/** A variable of coupon's own config as the service gets it by default. */
function couponDefault<Name extends keyof CouponConfig>(name: Name): CouponConfig[Name] {
  const value = couponDefaults[name];
  if (value === undefined) throw new Error(`coupon's ${name} has no default`);
  return value as CouponConfig[Name];
}

/**
 * The coupon service's own hand-off (events/hand-off.ts over the platform's
 * idempotent acks=all producer), sending one coupon.issued per tick of an
 * open loop at the steady scenarios' --rate, in the suite's process: the
 * time from a win to the broker's ack with nothing else in the path (no
 * HTTP, no token, no Redis). A 201 waits for exactly this, so coupon-steady's
 * average cannot fall below it on this machine at this hour.
 */
async function couponHandOff(context: SuiteContext, environment: CeilingEnvironment): Promise<Measurement> {
  const topic = `bench.ceiling.${randomBytes(4).toString('hex')}`;
  await ensureTopics({ brokers: environment.brokers, topics: [{ name: topic, partitions: 6 }] });
  // Wired as services/coupon/src/server.ts wires it, with coupon's defaults.
  const producer = createEventProducer({
    brokers: environment.brokers,
    clientId: 'bench-ceiling-hand-off',
    inFlightMax: handOffProducerInFlightMax,
    acquireTimeoutMs: couponDefault('NURI_COUPON_SEND_WAIT_MS'),
    requestTimeoutMs: couponDefault('NURI_COUPON_SEND_TIMEOUT_MS'),
  });
  const handOff = createCouponHandOff({
    producer,
    topic,
    windowMax: couponDefault('NURI_COUPON_SEND_WINDOW_MAX'),
    batchSizeMax: couponDefault('NURI_COUPON_SEND_BATCH_SIZE_MAX'),
    waitMs: couponDefault('NURI_COUPON_SEND_WAIT_MS'),
    queueWaitMaxMs: couponDefault('NURI_COUPON_SEND_QUEUE_WAIT_MAX_MS'),
  });
  const campaignId = uuidv7();
  const send = () =>
    handOff.handOff(
      { couponId: uuidv7(), campaignId, userUuid: uuidv7(), code: newCouponCode(), issuedAt: new Date() },
      uuidv7(),
    );
  try {
    await openLoop(context.options.steadyRate, handOffWarmUpS, send);
    const before = cpuSnapshot();
    const latencies = await openLoop(context.options.steadyRate, context.options.ceilingDurationS, send);
    // The broker's CPU per send, one record per produce request: what coupon-steady's Kafka share
    // cannot go below while each 201 waits for its own ack (the consumers' fetches come on top).
    const broker = cpuMsPerOperation(
      cpuBreakdown(before, cpuSnapshot(), context.cores),
      context.cores,
      latencies.length,
      ['kafka'],
    );
    latencies.sort((a, b) => a - b);
    const at = (share: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * share))]!;
    return {
      value: latencies.reduce((sum, latency) => sum + latency, 0) / latencies.length,
      lightLoad: { p50Ms: at(0.5), p99Ms: at(0.99), ratePerSecond: context.options.steadyRate },
      cpuMsPerRequest: broker.total,
    };
  } finally {
    await producer.close().catch(() => undefined);
    await deleteTopics(environment.brokers, [topic]).catch(() => undefined);
  }
}

/**
 * Calls `send` `rate` times a second for `durationS` seconds on the open
 * loop's schedule, and returns each call's ms from its due time to its end.
 */
async function openLoop(rate: number, durationS: number, send: () => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  await runOpenLoop(rate, Math.max(1, Math.round(rate * durationS)), (_index, dueAt) =>
    send().then(() => void latencies.push(performance.now() - dueAt)),
  );
  return latencies;
}

/** As many verifications in flight as channel-user's thread pool takes (libuv's default 4), and some queued. */
const argon2InFlight = 8;

async function argon2Verify(context: SuiteContext): Promise<Measurement> {
  // As many at once as the ceiling keeps in flight: channel-user caps its own at two.
  const { hash: hashPassword, verify: verifyPassword } = createPasswordHasher({
    concurrencyMax: argon2InFlight,
    waitingMax: argon2InFlight,
    waitMs: 60_000,
  });
  const stored = await hashPassword('bench-password-0');
  const deadline = performance.now() + context.options.ceilingDurationS * 1_000;
  const started = performance.now();
  let verified = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      if (!(await verifyPassword(stored, 'bench-password-0'))) throw new Error('argon2id verify failed');
      verified += 1;
    }
  };
  await Promise.all(Array.from({ length: argon2InFlight }, worker));
  return { value: verified / ((performance.now() - started) / 1_000) };
}

export const ceilingDefinitions: readonly CeilingDefinition[] = [
  {
    name: 'bare-fastify',
    title: 'Bare Fastify route',
    unit: 'req/s',
    how: 'GET / on a Fastify server with nothing else (no logger, hooks, auth or database), its own process; 50 connections',
    measure: bareFastify,
  },
  {
    name: 'bare-proxy',
    title: 'Bare proxy hop',
    unit: 'req/s',
    how: "GET / on the bare Fastify server through a bare proxy (node:http in, an undici Pool out, nothing else: no router, hooks, logs, metrics, token or rate limit), each its own process; 50 connections. CPU ms/req: the proxy process alone, the least a hop costs; the summary sets the gateway process's own CPU per jwks-gateway request beside it",
    measure: bareProxy,
  },
  {
    name: 'jwks-direct',
    title: 'Bare service route, direct',
    unit: 'req/s',
    how: `GET /.well-known/jwks.json straight at channel-user (the service's full plumbing, no auth, no database); 50 connections; latency also at ${lightLoadRatePerSecond} req/s offered`,
    usesSystem: true,
    measure: (context) => routeCeiling(context, context.system.channelUserUrl, 'jwks-direct'),
    warmUp: async (context) => {
      await routeRate(context, context.system.channelUserUrl, jwksPath, 'warm-up', warmUpS);
    },
  },
  {
    name: 'jwks-gateway',
    title: 'Bare service route, via the gateway',
    unit: 'req/s',
    how: `the same GET /.well-known/jwks.json through the gateway: the most any request through the gateway can reach here; 50 connections; latency also at ${lightLoadRatePerSecond} req/s offered`,
    usesSystem: true,
    measure: (context) =>
      routeCeiling(context, context.system.gatewayUrl, 'jwks-gateway', { hopGroup: 'gateway' }),
    warmUp: async (context) => {
      await routeRate(context, context.system.gatewayUrl, jwksPath, 'warm-up', warmUpS);
    },
  },
  {
    name: 'redis-evalsha',
    title: 'Redis EVALSHA of the coupon issue script',
    unit: 'calls/s',
    how: 'redis-benchmark, 50 clients, EVALSHA of services/coupon/src/redis/scripts.ts issueScript, a new user per call',
    measure: redisEvalsha,
  },
  {
    name: 'issue-route',
    title: 'Bare route running the coupon issue script',
    unit: 'req/s',
    how: "POST on a Fastify server of its own process that only runs coupon's issue script through coupon's campaign store (no token, no Kafka, no logger), a campaign of --quantity coupons, --crowd users round-robin as in the rush; 50 connections",
    measure: issueRoute,
  },
  {
    name: 'pgbench-n',
    title: 'PostgreSQL simple-update',
    unit: 'tps',
    how: 'pgbench -N (simple update, 3 statements per transaction) -c 50 -j 2 on a throwaway database',
    measure: pgbenchSimpleUpdate,
  },
  {
    name: 'kafka-producer',
    title: 'Kafka producer',
    unit: 'records/s',
    how: `the broker's kafka-producer-perf-test (ProducerPerformance), ${kafkaRecords.toLocaleString('en-US')} records of ${kafkaRecordBytes} B, acks=all, a throwaway topic of 6 partitions`,
    measure: kafkaProducer,
  },
  {
    name: 'coupon-hand-off',
    title: "Coupon's hand-off to Kafka",
    unit: 'avg ms',
    how: "the coupon service's own hand-off (services/coupon/src/events/hand-off.ts, its defaults; the platform's idempotent acks=all producer) sending one coupon.issued at a time at the steady --rate per second, open loop, in the suite's process, after 1 s unmeasured: the average from a win to the broker's ack (p50 / p99 beside it), what every 201 waits for; its CPU per request is the Kafka broker's alone per send",
    measure: couponHandOff,
  },
  {
    name: 'argon2id-verify',
    title: 'argon2id verifications',
    unit: 'verifies/s',
    how: `channel-user's own verifyPassword (argon2id m = 19 MiB, t = 2), ${argon2InFlight} in flight, in the suite's process`,
    measure: argon2Verify,
  },
];

/** The bare routes and the gateway's figure belong together: one without the others says little. */
export function ceilingsToMeasure(needed: ReadonlySet<CeilingName>): CeilingDefinition[] {
  const wanted = new Set(needed);
  if (wanted.has('jwks-gateway')) {
    wanted.add('jwks-direct');
    wanted.add('bare-fastify');
    wanted.add('bare-proxy');
  }
  return ceilingDefinitions.filter((definition) => wanted.has(definition.name));
}

export async function measureCeilings(
  context: SuiteContext,
  environment: CeilingEnvironment,
  definitions: readonly CeilingDefinition[],
  runs: number,
): Promise<CeilingReport[]> {
  const reports: CeilingReport[] = [];
  for (const definition of definitions) {
    const measurements: Measurement[] = [];
    try {
      await definition.warmUp?.(context);
      for (let index = 1; index <= runs; index += 1) {
        const measurement = await definition.measure(context, environment);
        measurements.push(measurement);
        progress(
          `ceiling ${definition.name} run ${index}/${runs}: ${formatNumber(measurement.value, digitsForUnit(definition.unit))} ${definition.unit}` +
            (measurement.cpuMsPerRequest === undefined
              ? ''
              : `, ${measurement.cpuMsPerRequest.toFixed(3)} ms CPU per request`),
        );
      }
    } catch (error) {
      // A missing tool (no pgbench, no java) costs its ratio, not the whole run.
      const message = whyNotMeasured(error);
      progress(`ceiling ${definition.name} not measured: ${message}`);
      reports.push({ ...describe(definition), value: spreadOf([]), error: message });
      continue;
    }
    const shares = measurements.flatMap((measurement) =>
      measurement.loadGeneratorShare === undefined ? [] : [measurement.loadGeneratorShare],
    );
    const light = measurements.flatMap((measurement) =>
      measurement.lightLoad === undefined ? [] : [measurement.lightLoad],
    );
    const cpuPerRequest = measurements.flatMap((measurement) =>
      measurement.cpuMsPerRequest === undefined ? [] : [measurement.cpuMsPerRequest],
    );
    const gatewayPerRequest = measurements.flatMap((measurement) =>
      measurement.gatewayCpuMsPerRequest === undefined ? [] : [measurement.gatewayCpuMsPerRequest],
    );
    reports.push({
      ...describe(definition),
      value: spreadOf(measurements.map((measurement) => measurement.value)),
      ...(shares.length === 0 ? {} : { loadGeneratorShare: spreadOf(shares) }),
      ...(cpuPerRequest.length === 0 ? {} : { cpuMsPerRequest: spreadOf(cpuPerRequest) }),
      ...(gatewayPerRequest.length === 0 ? {} : { gatewayCpuMsPerRequest: spreadOf(gatewayPerRequest) }),
      ...(light.length === 0
        ? {}
        : {
            lightLoad: {
              ratePerSecond: light[0]!.ratePerSecond ?? lightLoadRatePerSecond,
              p50Ms: spreadOf(light.map((latency) => latency.p50Ms)),
              p99Ms: spreadOf(light.map((latency) => latency.p99Ms)),
              ...spreadOfPresent(
                'cpuMsPerRequest',
                light.map((latency) => latency.cpuMsPerRequest),
              ),
              ...spreadOfPresent(
                'idleCpuMsPerSecond',
                light.map((latency) => latency.idleCpuMsPerSecond),
              ),
            },
          }),
    });
  }
  return reports;
}

/** `{ [name]: spread }` of the values measured, or nothing when none was. */
function spreadOfPresent<Name extends string>(
  name: Name,
  values: ReadonlyArray<number | undefined>,
): Partial<Record<Name, Spread>> {
  const present = values.filter((value): value is number => value !== undefined);
  return present.length === 0 ? {} : ({ [name]: spreadOf(present) } as Record<Name, Spread>);
}

/**
 * One line on why a ceiling could not be measured: a failed command's own
 * last words (its stderr, else how it ended), not only the command line.
 */
function whyNotMeasured(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { stderr, code, signal } = error as Error & { stderr?: string; code?: unknown; signal?: unknown };
  const head = error.message.split('\n')[0]!;
  const said = stderr?.trim().split('\n').at(-1)?.trim();
  if (said !== undefined && said !== '') return `${head.split(' ').slice(0, 3).join(' ')} …: ${said}`;
  if (signal !== undefined && signal !== null) return `${head} (ended by ${String(signal)})`;
  if (code !== undefined && code !== null && !head.includes(String(code)))
    return `${head} (exit ${String(code)})`;
  return head;
}

function describe(definition: CeilingDefinition) {
  return { name: definition.name, title: definition.title, unit: definition.unit, how: definition.how };
}
