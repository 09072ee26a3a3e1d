// The channel zone through the gateway, three scenarios per run, repeated
// (median and spread over the runs):
//  (a) withdrawals/s and latency: C connections over U users × A accounts each;
//  (b) deposit acceptance/s (202s) for a while, then the time from the end of
//      the load until every accepted deposit is COMPLETED (read back through
//      the public API: the accounts' balances reach the expected total);
//  (c) the gateway's cost: a bare route (GET /.well-known/jwks.json, no auth,
//      no database) and an authenticated one (GET /api/v1/me) direct at
//      channel-user vs through the gateway: throughput ratio, added p50/p99.
// The system runs as `npm start` runs it (every service its own process),
// started here on offset ports unless --gateway points at a running one.
//
//   node bench/channel.ts [--runs 3] [--users 20] [--accounts-per-user 5] [--connections 50]
//                         [--duration-s 10] [--gateway http://127.0.0.1:8080 --channel-user http://127.0.0.1:8201]
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startTestSystem, type TestSystem } from '../e2e/harness.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    users: { type: 'string', default: '20' },
    'accounts-per-user': { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    'duration-s': { type: 'string', default: '10' },
    'overhead-duration-s': { type: 'string', default: '5' },
    gateway: { type: 'string' },
    'channel-user': { type: 'string' },
  },
});

const runs = Number(args.runs);
const connections = Number(args.connections);
const durationS = Number(args['duration-s']);
const overheadDurationS = Number(args['overhead-duration-s']);
const fundingAmount = 100_000_000;
const drainTimeoutMs = 120_000;

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  statusCodeStats?: Record<string, { count: number }>;
}
type AutocannonRequest = { method?: string; path?: string; headers?: Record<string, string>; body?: string };
type AutocannonOptions = {
  url: string;
  duration?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  requests?: Array<{ method: string; setupRequest: (request: AutocannonRequest) => AutocannonRequest }>;
};
// autocannon ships no type declarations; the shape used here is declared above.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: AutocannonOptions & { connections: number },
) => Promise<AutocannonResult>;

interface Customer {
  token: string;
  accounts: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: responses of our own API, read by field
type Json = any;

let system: TestSystem | undefined;
let gatewayUrl = args.gateway ?? '';
let channelUserUrl = args['channel-user'] ?? '';

async function bootSystem(): Promise<void> {
  if (args.gateway !== undefined) {
    if (channelUserUrl === '') throw new Error('--channel-user is required with --gateway');
    return;
  }
  // Throwaway databases and consumer groups, offset ports (e2e/harness.ts): a
  // running `npm start` is neither measured nor disturbed.
  process.env.NURI_E2E_LOG_LEVEL ??= 'warn';
  system = await startTestSystem();
  gatewayUrl = system.gatewayUrl;
  channelUserUrl = system.env.NURI_CHANNEL_USER_URL!;
}

async function call(
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${gatewayUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

function randomRrn(): string {
  const bytes = randomBytes(8);
  const month = String(1 + (bytes[0]! % 12)).padStart(2, '0');
  const day = String(1 + (bytes[1]! % 28)).padStart(2, '0');
  return `7${bytes[2]! % 10}${month}${day}-1${bytes.readUInt32BE(4).toString().padStart(6, '0').slice(0, 6)}`;
}

async function createCustomers(count: number, accountsEach: number): Promise<Customer[]> {
  const customers: Customer[] = [];
  for (let index = 0; index < count; index += 1) {
    const loginId = `bench_${randomBytes(6).toString('hex')}`;
    const password = `bench-${randomBytes(6).toString('hex')}-1`;
    const signup = await call('POST', '/api/v1/auth/signup', undefined, {
      loginId,
      password,
      name: '벤치마크',
      rrn: randomRrn(),
    });
    if (signup.status !== 201) throw new Error(`signup: ${signup.status} ${JSON.stringify(signup.json)}`);
    const login = await call('POST', '/api/v1/auth/login', undefined, { loginId, password });
    const token = login.json.accessToken as string;
    const accounts: string[] = [];
    for (let account = 0; account < accountsEach; account += 1) {
      const opened = await call('POST', '/api/v1/accounts', token, {});
      if (opened.status !== 201) throw new Error(`open account: ${opened.status}`);
      accounts.push(opened.json.accountNo);
    }
    customers.push({ token, accounts });
  }
  return customers;
}

async function totalBalance(customers: Customer[]): Promise<number> {
  const lists = await Promise.all(
    customers.map((customer) => call('GET', '/api/v1/accounts', customer.token)),
  );
  return lists.reduce(
    (sum, list) =>
      sum + (list.json.items as Array<{ balance: number }>).reduce((inner, item) => inner + item.balance, 0),
    0,
  );
}

async function waitForTotal(customers: Customer[], expected: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < drainTimeoutMs) {
    if ((await totalBalance(customers)) >= expected) return Date.now() - started;
    await sleep(50);
  }
  throw new Error(`deposits did not drain within ${drainTimeoutMs} ms`);
}

/** Every (account, token) pair, visited round-robin by the load generator. */
function targets(customers: Customer[]) {
  return customers.flatMap((customer) =>
    customer.accounts.map((accountNo) => ({ accountNo, token: customer.token })),
  );
}

interface LoadResult {
  perSecond: number;
  p50: number;
  p99: number;
  statusCounts: Record<string, number>;
}

async function load(options: AutocannonOptions): Promise<LoadResult> {
  const result = await autocannon({ connections, duration: durationS, ...options });
  const statusCounts: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {}))
    statusCounts[status] = Number(stats.count);
  return {
    perSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statusCounts,
  };
}

async function withdrawals(customers: Customer[]): Promise<LoadResult> {
  const pairs = targets(customers);
  let next = 0;
  return load({
    url: gatewayUrl,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const target = pairs[next++ % pairs.length]!;
          return {
            ...request,
            path: `/api/v1/accounts/${target.accountNo}/withdrawals`,
            headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
            body: '{"amount":1}',
          };
        },
      },
    ],
  });
}

async function deposits(customers: Customer[]): Promise<LoadResult & { accepted: number; drainMs: number }> {
  const pairs = targets(customers);
  const before = await totalBalance(customers);
  let next = 0;
  const result = await load({
    url: gatewayUrl,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const target = pairs[next++ % pairs.length]!;
          return {
            ...request,
            path: `/api/v1/accounts/${target.accountNo}/deposits`,
            headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
            body: '{"amount":1}',
          };
        },
      },
    ],
  });
  const accepted = result.statusCounts['202'] ?? 0;
  const drainMs = await waitForTotal(customers, before + accepted);
  return { ...result, accepted, drainMs };
}

async function overhead(path: string, token?: string) {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const options = { duration: overheadDurationS, headers, method: 'GET' as const };
  const direct = await load({ ...options, url: `${channelUserUrl}${path}` });
  const gateway = await load({ ...options, url: `${gatewayUrl}${path}` });
  return {
    direct,
    gateway,
    ratio: gateway.perSecond / direct.perSecond,
    addedP50: gateway.p50 - direct.p50,
    addedP99: gateway.p99 - direct.p99,
  };
}

function summary(values: number[], digits = 0): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${median.toFixed(digits)} [${sorted[0]!.toFixed(digits)}–${sorted.at(-1)!.toFixed(digits)}]`;
}

async function main(): Promise<void> {
  await bootSystem();
  console.log(`channel bench: gateway ${gatewayUrl}, channel-user ${channelUserUrl}`);
  const customers = await createCustomers(Number(args.users), Number(args['accounts-per-user']));
  const before = await totalBalance(customers);
  for (const { accountNo, token } of targets(customers)) {
    const response = await call('POST', `/api/v1/accounts/${accountNo}/deposits`, token, {
      amount: fundingAmount,
    });
    if (response.status !== 202) throw new Error(`funding: ${response.status}`);
  }
  await waitForTotal(customers, before + fundingAmount * targets(customers).length);
  console.log(
    `${customers.length} users, ${targets(customers).length} accounts funded; ${runs} runs, ${connections} connections`,
  );

  const rows: Array<Record<string, number>> = [];
  for (let run = 1; run <= runs; run += 1) {
    const withdrawn = await withdrawals(customers);
    const deposited = await deposits(customers);
    const bare = await overhead('/.well-known/jwks.json');
    const me = await overhead('/api/v1/me', customers[0]!.token);
    const row = {
      withdrawalsPerSecond: withdrawn.perSecond,
      withdrawalP50: withdrawn.p50,
      withdrawalP99: withdrawn.p99,
      depositsPerSecond: deposited.perSecond,
      depositP99: deposited.p99,
      depositDrainMs: deposited.drainMs,
      bareDirect: bare.direct.perSecond,
      bareGateway: bare.gateway.perSecond,
      bareRatio: bare.ratio,
      bareAddedP50: bare.addedP50,
      bareAddedP99: bare.addedP99,
      meRatio: me.ratio,
      meAddedP50: me.addedP50,
      meAddedP99: me.addedP99,
    };
    rows.push(row);
    console.log(
      `run ${run}: withdrawals ${withdrawn.perSecond.toFixed(0)}/s p50 ${withdrawn.p50} ms p99 ${withdrawn.p99} ms ${JSON.stringify(withdrawn.statusCounts)}; ` +
        `deposits ${deposited.perSecond.toFixed(0)}/s accepted ${deposited.accepted} p99 ${deposited.p99} ms, drained ${deposited.drainMs} ms after load ${JSON.stringify(deposited.statusCounts)}; ` +
        `bare route direct ${bare.direct.perSecond.toFixed(0)}/s vs gateway ${bare.gateway.perSecond.toFixed(0)}/s (×${bare.ratio.toFixed(2)}, +${bare.addedP50} ms p50, +${bare.addedP99} ms p99); ` +
        `/me ×${me.ratio.toFixed(2)} (+${me.addedP50} ms p50, +${me.addedP99} ms p99)`,
    );
  }
  const column = (name: string) => rows.map((row) => row[name]!);
  console.log('\nmedian [min–max] over runs:');
  console.log(`  withdrawals/s        ${summary(column('withdrawalsPerSecond'))}   (target ≥ 3000)`);
  console.log(`  withdrawal p50 ms    ${summary(column('withdrawalP50'))}`);
  console.log(`  withdrawal p99 ms    ${summary(column('withdrawalP99'))}   (target ≤ 30)`);
  console.log(`  deposits accepted/s  ${summary(column('depositsPerSecond'))}   (target ≥ 5000)`);
  console.log(`  deposit p99 ms       ${summary(column('depositP99'))}`);
  console.log(`  deposit drain ms     ${summary(column('depositDrainMs'))}   (target ≤ 5000)`);
  console.log(`  bare direct/s        ${summary(column('bareDirect'))}`);
  console.log(`  bare via gateway/s   ${summary(column('bareGateway'))}`);
  console.log(`  bare ratio gw/direct ${summary(column('bareRatio'), 2)}`);
  console.log(`  bare added p50 ms    ${summary(column('bareAddedP50'), 1)}`);
  console.log(`  bare added p99 ms    ${summary(column('bareAddedP99'), 1)}`);
  console.log(`  /me ratio gw/direct  ${summary(column('meRatio'), 2)}`);
  console.log(`  /me added p50 ms     ${summary(column('meAddedP50'), 1)}`);
  console.log(`  /me added p99 ms     ${summary(column('meAddedP99'), 1)}`);
}

try {
  await main();
} finally {
  await system?.shutdown();
}
