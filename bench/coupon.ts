// Coupon issue under load. Boots the coupon service as its own process (real
// MariaDB, Redis, Kafka; a local JWKS stands in for channel-user), then:
//   rush    — `--requests` issue requests from `--connections` connections for
//             `--quantity` coupons, `--runs` times; exactly `--quantity` must be issued;
//   steady  — `--rate` requests/s (open loop) for `--steady-seconds` against a campaign that
//             does not sell out (every answer a 201 with its Kafka ack): average and p99;
//   ceilings — redis-benchmark running the issue script by EVALSHA, and a bare
//             Fastify route that only calls the script (no JWT, no Kafka), hit
//             like the rush. Our rush throughput is reported as a ratio of each.
// The load generator shares the machine's cores with everything it measures.
//
//   node bench/coupon.ts [--runs 3] [--requests 100000] [--quantity 10000] [--connections 500]
//                        [--users 20000] [--rate 1000] [--steady-seconds 30] [--gateway-runs 1]
// With --gateway-runs > 0 the gateway (services/gateway) is started in front of
// the coupon service and the rush is repeated through it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { topics as defaultTopics } from '@nuri/contracts/events';
import { accessTokenAlgorithm, accessTokenAudience, accessTokenIssuer } from '@nuri/platform/access-token';
import { dropMysqlDatabase, ensureMysqlDatabase } from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createRedis, type Redis } from '@nuri/platform/redis';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { campaignKeys, createCampaignStore } from '../services/coupon/src/redis/campaign-store.ts';
import { issueScript } from '../services/coupon/src/redis/scripts.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    requests: { type: 'string', default: '100000' },
    quantity: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '500' },
    users: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    'steady-seconds': { type: 'string', default: '30' },
    'steady-connections': { type: 'string', default: '50' },
    'gateway-runs': { type: 'string', default: '1' },
    phases: { type: 'string', default: 'rush,gateway,steady,ceilings' },
    'mysql-admin-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306/' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'serve-ceiling': { type: 'string' },
  },
});

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const runsTotal = Number(args.runs);
const rushRequests = Number(args.requests);
const rushQuantity = Number(args.quantity);
const connections = Number(args.connections);
const rushUsers = Number(args.users);
const steadyRate = Number(args.rate);
const steadySeconds = Number(args['steady-seconds']);
const steadyConnections = Number(args['steady-connections']);
const brokers = args.brokers.split(',');
const startTimeoutMs = 60_000;
const phases = new Set(args.phases.split(','));

interface LoadResult {
  requests: number;
  seconds: number;
  perSecond: number;
  latencyAverageMs: number;
  latencyP99Ms: number;
  statuses: Record<string, number>;
  errors: number;
}

async function hit(options: {
  url: string;
  connections: number;
  amount?: number;
  durationSeconds?: number;
  overallRate?: number;
  pathFor: (index: number) => string;
  headersFor?: (index: number) => Record<string, string>;
}): Promise<LoadResult> {
  let index = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    pipelining: 1,
    method: 'POST',
    timeout: 10,
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    ...(options.durationSeconds === undefined ? {} : { duration: options.durationSeconds }),
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
    requests: [
      {
        setupRequest: (request: Record<string, unknown>) => {
          const current = index;
          index += 1;
          return {
            ...request,
            method: 'POST',
            path: options.pathFor(current),
            headers: options.headersFor?.(current) ?? {},
          };
        },
      },
    ],
  });
  const statuses: Record<string, number> = {};
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) {
    statuses[status] = (stat as { count: number }).count;
  }
  const requests = Object.values(statuses).reduce((sum, count) => sum + count, 0);
  return {
    requests,
    seconds: result.duration,
    perSecond: requests / result.duration,
    latencyAverageMs: result.latency.average,
    latencyP99Ms: result.latency.p99,
    statuses,
    errors: result.errors + result.timeouts,
  };
}

// --- the bare-route ceiling, run as its own process like the service ------

async function serveCeiling(port: number): Promise<void> {
  const redis = createRedis({ url: args['redis-url'], name: 'coupon-bench-ceiling' });
  const store = createCampaignStore(redis);
  const app = Fastify({ logger: false });
  app.post<{ Params: { campaignId: string } }>('/issue/:campaignId', async (request, reply) => {
    const decision = await store.issue(request.params.campaignId, {
      userUuid: String(request.headers['x-user'] ?? randomUUID()),
      couponId: uuidv7(),
      code: 'BENC-HMAR-KCOD',
    });
    return reply.code(decision.outcome === 'ISSUED' ? 201 : 410).send({ outcome: decision.outcome });
  });
  await app.listen({ host: '127.0.0.1', port });
  process.stdout.write('ready\n');
}

// --- set-up -----------------------------------------------------------------

async function startJwks() {
  const { publicKey, privateKey } = await generateKeyPair(accessTokenAlgorithm, { crv: 'Ed25519' });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: accessTokenAlgorithm, use: 'sig' };
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    async tokens(count: number): Promise<string[]> {
      const tokens: string[] = [];
      for (let index = 0; index < count; index += 1) {
        tokens.push(
          await new SignJWT({})
            .setProtectedHeader({ alg: accessTokenAlgorithm, kid: 'bench' })
            .setIssuer(accessTokenIssuer)
            .setAudience(accessTokenAudience)
            .setSubject(uuidv7())
            .setJti(randomUUID())
            .setIssuedAt()
            .setExpirationTime('1h')
            .sign(privateKey),
        );
      }
      return tokens;
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function spawnNode(script: string, scriptArgs: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [script, ...scriptArgs], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${script.split('/').at(-1)}] ${chunk}`));
  return child;
}

async function waitForHttp(url: string): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer 200 within ${startTimeoutMs} ms`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function spread(values: number[]): string {
  if (values.length === 0) return 'not run';
  return `median ${median(values).toFixed(0)}, min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)}`;
}

// --- the scenarios ------------------------------------------------------------

interface Service {
  url: string;
  adminToken: string;
  redis: Redis;
  campaigns: string[];
}

async function createCampaign(service: Service, quantity: number): Promise<string> {
  const response = await fetch(`${service.url}/api/v1/admin/coupon-campaigns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench ${new Date().toISOString()}`, quantity }),
  });
  if (response.status !== 201)
    throw new Error(`create campaign: ${response.status} ${await response.text()}`);
  const { campaignId } = (await response.json()) as { campaignId: string };
  service.campaigns.push(campaignId);
  return campaignId;
}

async function rush(service: Service, baseUrl: string, tokens: string[]) {
  const campaignId = await createCampaign(service, rushQuantity);
  const result = await hit({
    url: baseUrl,
    connections,
    amount: rushRequests,
    pathFor: () => `/api/v1/coupon-campaigns/${campaignId}/issue`,
    headersFor: (index) => ({ authorization: `Bearer ${tokens[index % tokens.length]}` }),
  });
  const stock = await service.redis.hmget(campaignKeys(campaignId).meta, 'quantity', 'remaining');
  const holders = await service.redis.hlen(campaignKeys(campaignId).holders);
  return { campaignId, result, issued: Number(stock[0]) - Number(stock[1]), holders };
}

/**
 * An open-loop constant rate: requests start on schedule whatever the answers
 * do (autocannon's `overallRate` is closed-loop in bursts at each second's
 * start, which measures queueing behind the burst, not a steady load).
 */
async function openLoop(options: {
  url: string;
  rate: number;
  seconds: number;
  connectionsMax: number;
  pathFor: (index: number) => string;
  headersFor: (index: number) => Record<string, string>;
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connectionsMax });
  const target = new URL(options.url);
  const total = options.rate * options.seconds;
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const send = (index: number) =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const request = httpRequest(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path: options.pathFor(index),
          headers: options.headersFor(index),
          timeout: 10_000,
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            latenciesMs.push(performance.now() - started);
            statuses[String(response.statusCode)] = (statuses[String(response.statusCode)] ?? 0) + 1;
            resolve();
          });
        },
      );
      request.on('error', () => {
        errors += 1;
        resolve();
      });
      request.end();
    });
  const startedAt = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - startedAt) / 1_000) * options.rate));
    while (sent < due) inFlight.push(send(sent++));
    await sleep(1);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - startedAt) / 1_000;
  agent.destroy();
  latenciesMs.sort((a, b) => a - b);
  const at = (fraction: number) =>
    latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(latenciesMs.length * fraction))] ?? 0;
  return {
    requests: latenciesMs.length,
    seconds,
    perSecond: latenciesMs.length / seconds,
    latencyAverageMs: latenciesMs.reduce((sum, value) => sum + value, 0) / Math.max(1, latenciesMs.length),
    latencyP99Ms: Number(at(0.99).toFixed(2)),
    statuses,
    errors,
  };
}

interface RouteHistogram {
  count: number;
  sumSeconds: number;
  buckets: Array<{ le: string; count: number }>;
}

/** The service's own request-duration histogram for 201s of the issue route. */
async function issueHistogram(service: Service): Promise<RouteHistogram> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const route = 'route="/api/v1/coupon-campaigns/:campaignId/issue",status="201"';
  const lines = text.split('\n').filter((line) => line.includes(route));
  const value = (prefix: string) =>
    Number(
      lines
        .find((line) => line.startsWith(prefix))
        ?.split(' ')
        .at(-1) ?? 0,
    );
  return {
    count: value('nuri_http_request_duration_seconds_count'),
    sumSeconds: value('nuri_http_request_duration_seconds_sum'),
    buckets: lines
      .filter((line) => line.startsWith('nuri_http_request_duration_seconds_bucket'))
      .map((line) => ({ le: /le="([^"]+)"/.exec(line)?.[1] ?? '', count: Number(line.split(' ').at(-1)) })),
  };
}

function describeServerSide(before: RouteHistogram, after: RouteHistogram): string {
  const count = after.count - before.count;
  const averageMs = ((after.sumSeconds - before.sumSeconds) / Math.max(1, count)) * 1_000;
  const p99Bucket = after.buckets.find(
    (bucket, index) => bucket.count - (before.buckets[index]?.count ?? 0) >= count * 0.99,
  );
  return `avg ${averageMs.toFixed(2)} ms over ${count}, p99 ≤ ${p99Bucket?.le ?? '?'} s`;
}

async function steadyLoad(
  service: Service,
  jwks: Awaited<ReturnType<typeof startJwks>>,
): Promise<LoadResult> {
  const campaignId = await createCampaign(service, 10_000_000);
  // Every request is a new user, so every answer is a 201 with its Kafka ack.
  const tokens = await jwks.tokens(steadyRate * steadySeconds);
  const before = await issueHistogram(service);
  const steady = await openLoop({
    url: service.url,
    rate: steadyRate,
    seconds: steadySeconds,
    connectionsMax: steadyConnections,
    pathFor: () => `/api/v1/coupon-campaigns/${campaignId}/issue`,
    headersFor: (index) => ({ authorization: `Bearer ${tokens[index]}` }),
  });
  const serverSide = describeServerSide(before, await issueHistogram(service));
  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  const ackBuckets = metrics
    .split('\n')
    .filter(
      (line) => line.startsWith('nuri_coupon_hand_off_duration_seconds_bucket') && line.includes('acked'),
    )
    .map((line) => `${/le="([^"]+)"/.exec(line)?.[1]}:${line.split(' ').at(-1)}`);
  process.stdout.write(`Kafka ack time per batch since start (le:count): ${ackBuckets.join(' ')}\n`);
  process.stdout.write(
    `steady ${steadyRate}/s for ${steadySeconds} s: ${steady.perSecond.toFixed(0)} req/s, avg ${steady.latencyAverageMs.toFixed(2)} ms, p99 ${steady.latencyP99Ms} ms, statuses ${JSON.stringify(steady.statuses)}, errors ${steady.errors}; server-side ${serverSide}\n`,
  );
  return steady;
}

async function rushThroughGateway(service: Service, jwksUrl: string, tokens: string[]) {
  const port = await freePort();
  const gateway = spawnNode('services/gateway/src/server.ts', [], {
    NURI_GATEWAY_PORT: String(port),
    // The gateway's own secrets (its admin API and its reads of the services' reports; unused here).
    NURI_ADMIN_TOKEN: service.adminToken,
    NURI_INTERNAL_TOKEN: randomBytes(32).toString('base64url'),
    NURI_COUPON_URL: service.url,
    NURI_CHANNEL_USER_URL: jwksUrl,
    // One load generator is one client IP; the per-IP limit would measure itself.
    NURI_RATE_LIMIT_IP_MAX: '10000000',
    NURI_LOG_LEVEL: 'warn',
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/health/live`);
    const runs = [];
    for (let run = 1; run <= Number(args['gateway-runs']); run += 1) {
      const outcome = await rush(service, `http://127.0.0.1:${port}`, tokens);
      process.stdout.write(
        `rush through the gateway ${run}: ${outcome.result.perSecond.toFixed(0)} req/s, avg ${outcome.result.latencyAverageMs.toFixed(1)} ms, p99 ${outcome.result.latencyP99Ms} ms, issued ${outcome.issued}, statuses ${JSON.stringify(outcome.result.statuses)}, errors ${outcome.result.errors}\n`,
      );
      if (outcome.issued !== rushQuantity) throw new Error(`gateway rush issued ${outcome.issued}`);
      runs.push({ issued: outcome.issued, ...outcome.result });
    }
    return runs;
  } catch (error) {
    // The gateway is another team's work in progress; its absence must not void our numbers.
    process.stdout.write(
      `rush through the gateway skipped: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return { skipped: String(error) };
  } finally {
    await stopChild(gateway);
  }
}

async function redisBenchmarkCeiling(redis: Redis): Promise<number> {
  const campaignId = uuidv7();
  const keys = campaignKeys(campaignId);
  await redis.hset(keys.meta, { quantity: 100_000_000, remaining: 100_000_000, startsAt: '', endsAt: '' });
  const sha = String(await redis.script('LOAD', issueScript));
  const { stdout } = await promisify(execFile)('redis-benchmark', [
    ...['-h', '127.0.0.1', '-p', '6379', '-n', String(rushRequests), '-c', '50', '-r', '100000000', '-q'],
    ...['EVALSHA', sha, '3', keys.meta, keys.holders, keys.pending],
    ...['user:__rand_int__', '0190a000-0000-7000-8000-000000000000', 'BENC-HMAR-KCOD', ''],
  ]);
  await redis.del(keys.meta, keys.holders, keys.pending);
  const match = /([\d.]+) requests per second/.exec(stdout);
  if (match === null) throw new Error(`unexpected redis-benchmark output: ${stdout}`);
  return Number(match[1]);
}

async function bareRouteCeiling(redis: Redis): Promise<LoadResult> {
  const port = await freePort();
  const child = spawnNode(fileURLToPath(import.meta.url), ['--serve-ceiling', String(port)], {});
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`ceiling server exited with ${code}`)));
    });
    const campaignId = uuidv7();
    const keys = campaignKeys(campaignId);
    await redis.hset(keys.meta, {
      quantity: rushQuantity,
      remaining: rushQuantity,
      startsAt: '',
      endsAt: '',
    });
    const result = await hit({
      url: `http://127.0.0.1:${port}`,
      connections,
      amount: rushRequests,
      pathFor: () => `/issue/${campaignId}`,
      headersFor: (index) => ({ 'x-user': `bench-user-${index % rushUsers}` }),
    });
    await redis.del(keys.meta, keys.holders, keys.pending);
    return result;
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const database = `bench_coupon_${suffix}`;
  const topics = {
    couponIssued: `bench.${suffix}.${defaultTopics.couponIssued}`,
    couponRecorded: `bench.${suffix}.${defaultTopics.couponRecorded}`,
  };
  const topicNames = [...Object.values(topics), ...Object.values(topics).map((topic) => `${topic}.dlq`)];
  const adminToken = randomBytes(32).toString('base64url');
  const redis = createRedis({ url: args['redis-url'], name: 'coupon-bench', commandTimeoutMs: 30_000 });
  const jwks = await startJwks();
  await ensureMysqlDatabase(args['mysql-admin-url'], database);
  await ensureTopics({ brokers, topics: topicNames.map((name) => ({ name, partitions: 6 })) });
  const port = await freePort();
  const service: Service = { url: `http://127.0.0.1:${port}`, adminToken, redis, campaigns: [] };
  const child = spawnNode('services/coupon/src/server.ts', [], {
    NURI_COUPON_PORT: String(port),
    NURI_COUPON_DB: database,
    NURI_ADMIN_TOKEN: adminToken,
    NURI_INTERNAL_TOKEN: randomBytes(32).toString('base64url'),
    NURI_INTERNAL_CALLERS: `ops=${randomBytes(32).toString('base64url')}`,
    NURI_CHANNEL_USER_URL: jwks.url,
    NURI_COUPON_ISSUED_TOPIC: topics.couponIssued,
    NURI_COUPON_RECORDED_TOPIC: topics.couponRecorded,
    NURI_COUPON_EVENTS_GROUP_ID: `bench.coupon.events.${suffix}`,
    // Per-request info lines would measure the logger, not the issue path.
    NURI_LOG_LEVEL: 'warn',
  });
  const report: Record<string, unknown> = { at: new Date().toISOString(), args };
  try {
    await waitForHttp(`${service.url}/health/ready`);
    process.stdout.write(`coupon service up on ${service.url}; signing ${rushUsers} tokens\n`);
    const rushTokens = await jwks.tokens(rushUsers);

    const rushes = [];
    for (let run = 1; run <= (phases.has('rush') ? runsTotal : 0); run += 1) {
      const outcome = await rush(service, service.url, rushTokens);
      rushes.push(outcome);
      process.stdout.write(
        `rush ${run}: ${outcome.result.perSecond.toFixed(0)} req/s, avg ${outcome.result.latencyAverageMs.toFixed(1)} ms, p99 ${outcome.result.latencyP99Ms} ms, issued ${outcome.issued} (holders ${outcome.holders}), statuses ${JSON.stringify(outcome.result.statuses)}, errors ${outcome.result.errors}\n`,
      );
      // Exactly the quantity is issued. A client that timed out or lost its
      // socket misses its 201 but holds the coupon (a retry answers 409 with it).
      const answered201 = outcome.result.statuses['201'] ?? 0;
      if (outcome.issued !== rushQuantity || outcome.holders !== rushQuantity || answered201 > rushQuantity) {
        throw new Error(
          `rush ${run} issued ${outcome.issued}, holders ${outcome.holders}, 201s ${answered201}`,
        );
      }
    }
    report.rush = rushes.map(({ campaignId, result, issued }) => ({ campaignId, issued, ...result }));

    if (phases.has('gateway') && Number(args['gateway-runs']) > 0) {
      report.rushThroughGateway = await rushThroughGateway(service, jwks.url, rushTokens);
    }

    const steady = phases.has('steady') ? await steadyLoad(service, jwks) : undefined;
    await stopChild(child);
    const redisCeilings: number[] = [];
    const routeCeilings: number[] = [];
    for (let run = 1; run <= (phases.has('ceilings') ? runsTotal : 0); run += 1) {
      redisCeilings.push(await redisBenchmarkCeiling(redis));
      routeCeilings.push((await bareRouteCeiling(redis)).perSecond);
      process.stdout.write(
        `ceilings ${run}: redis-benchmark EVALSHA ${redisCeilings.at(-1)!.toFixed(0)}/s, bare Fastify route ${routeCeilings.at(-1)!.toFixed(0)}/s\n`,
      );
    }
    const rushRates = rushes.map((outcome) => outcome.result.perSecond);
    report.steady = steady;
    report.ceilings = { redisBenchmarkEvalsha: redisCeilings, bareFastifyRoute: routeCeilings };
    report.summary = {
      rushPerSecond: spread(rushRates),
      rushP99Ms: spread(rushes.map((outcome) => outcome.result.latencyP99Ms)),
      redisBenchmarkPerSecond: spread(redisCeilings),
      bareRoutePerSecond: spread(routeCeilings),
      rushVsRedisBenchmark: (median(rushRates) / median(redisCeilings)).toFixed(3),
      rushVsBareRoute: (median(rushRates) / median(routeCeilings)).toFixed(3),
      steady:
        steady === undefined
          ? 'not run'
          : `${steady.perSecond.toFixed(0)} req/s, avg ${steady.latencyAverageMs.toFixed(2)} ms, p99 ${steady.latencyP99Ms} ms`,
    };
    process.stdout.write(`${JSON.stringify(report.summary, null, 2)}\n`);
    const resultsDir = join(repoRoot, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, `coupon-${suffix}.json`), `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await stopChild(child);
    for (const campaignId of service.campaigns) {
      const keys = campaignKeys(campaignId);
      await redis.del(keys.meta, keys.holders, keys.pending, keys.rebuildLock);
    }
    await redis.quit();
    await jwks.close();
    await deleteTopics(brokers, topicNames).catch(() => {});
    await dropMysqlDatabase(args['mysql-admin-url'], database);
  }
}

if (args['serve-ceiling'] !== undefined) {
  await serveCeiling(Number(args['serve-ceiling']));
} else {
  await main();
}
