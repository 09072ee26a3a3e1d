// `npm run chaos -- fuzz`: hostile input at every public route of a whole
// system, through the gateway, seeded. What must hold: no answer is a 5xx,
// no process crashes or restarts, no bad token is accepted, every
// well-formed request gets an answer, slow clients (slowloris) neither
// starve the others nor hold their connections for ever, and each process's
// memory stays bounded. The report counts the cases per route.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeMachine } from '../../bench/suite/machine.ts';
import { startTestSystem, type TestSystem } from '../../e2e/harness.ts';
import { BankClient, newCustomer, newKey, settledDeposit } from '../../e2e/workload.ts';
import { rootDir } from '../../src/cli/paths.ts';
import { environmentWithSecrets } from '../../src/cli/secrets.ts';
import type { Invariant } from '../checker.ts';
import { type ChaosBroker, type ChaosRedis, createBroker, createRedis } from '../infra.ts';
import { progress, timestamp } from '../progress.ts';
import { freshSeed } from '../random.ts';
import { casesOf, type FuzzCase, type FuzzContext, httpCases, type OpenApiDocument } from './cases.ts';
import { exchange, type RawAnswer, send } from './http.ts';
import { renderFuzzHtml } from './report-html.ts';
import { badTokens } from './tokens.ts';

export interface FuzzOptions {
  seed: number;
  /** Cases per route and family drawn from the schemas. */
  runs: number;
  /** Requests in flight at once. */
  concurrency: number;
}

export const fuzzUsage = `usage: npm run chaos -- fuzz [--seed N] [--runs N] [--concurrency N]

Hostile input at every public route (from the gateway's /openapi.json) of a
whole system: bodies from each route's own schema and their mutations (wrong
types, huge/negative/float numbers and numbers beyond 2^53, deep nesting,
duplicate keys, Unicode: NFC/NFD, right-to-left, zero-width, emoji; very long
strings, broken JSON, other content types), hostile path and query values,
bad tokens (alg none, HS256 signed with the public key, expired, unknown kid,
a changed signature), header floods, oversized and smuggled bodies, and slow
clients (slowloris, slow bodies). Report in chaos/results/<time>-fuzz/.

  --seed N         the cases drawn (default: a fresh one, printed)
  --runs N         cases per route and family drawn from the schemas (default 60)
  --concurrency N  requests in flight at once (default 8)

Exit code: 0 when no answer was a 5xx, nothing crashed, no bad token was
accepted and memory stayed bounded; 1 otherwise; 2 when it could not run.`;

/** Resident memory any one process may reach, and may grow by over the run (MB). */
const memoryMaxMb = 768;
const memoryGrowthMaxMb = 256;
const slowClients = 40;
// Node checks its request timeout (30 s here) every 30 s: a slow client is closed 30–60 s after it began.
const slowHoldMaxMs = 75_000;
const probeEveryMs = 500;
/** A slow client must not slow the others past this. */
const probeSlowMs = 2_000;

export async function runFuzzCommand(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(`${fuzzUsage}\n`);
    return 0;
  }
  const values = new Map<string, string>();
  for (let index = 0; index < args.length; index += 2) {
    const name = args[index]!;
    const value = args[index + 1];
    if (!name.startsWith('--') || value === undefined) {
      process.stderr.write(`unexpected '${name}'\n${fuzzUsage}\n`);
      return 2;
    }
    values.set(name.slice(2), value);
  }
  const integer = (name: string, fallback: number, min = 1) => {
    const value = Number(values.get(name) ?? fallback);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`--${name} wants an integer of at least ${min}`);
    return value;
  };
  const unknown = [...values.keys()].filter((name) => !['seed', 'runs', 'concurrency'].includes(name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown option --${unknown.join(', --')}\n${fuzzUsage}\n`);
    return 2;
  }
  return runFuzz({
    seed: values.has('seed') ? integer('seed', 0, 0) : freshSeed(),
    runs: integer('runs', 60),
    concurrency: integer('concurrency', 8),
  });
}

interface Outcome {
  fuzzCase: FuzzCase;
  answer: RawAnswer;
}

export interface RouteCount {
  route: string;
  cases: number;
  byStatus: Record<string, number>;
  families: Record<string, number>;
}

export interface FuzzFinding {
  route: string;
  family: string;
  describe: string;
  status: number;
  /** The problem code, or the first characters of the answer. */
  answer: string;
  /** The request as sent, shortened; tokens blanked. */
  request: string;
}

export interface FuzzReport {
  ok: boolean;
  seed: number;
  reproduce: string;
  options: FuzzOptions;
  machine: ReturnType<typeof describeMachine>;
  times: { started: string; finished: string };
  cases: number;
  routes: RouteCount[];
  findings: FuzzFinding[];
  slow: {
    clients: number;
    /** Slow headers and slow bodies: how many the server ended, and how. */
    groups: { headers: string; bodies: string };
    closedWithinMs: number[];
    stillOpen: number;
    probes: number;
    probeP99Ms: number;
    probeMaxMs: number;
  };
  memory: Array<{ instance: string; startMb: number; maxMb: number; endMb: number }>;
  instances: Array<{ name: string; restarts: number; state: string }>;
  invariants: Invariant[];
}

export async function runFuzz(options: FuzzOptions): Promise<number> {
  const startedAt = Date.now();
  const folder = join(rootDir, 'chaos', 'results', `${timestamp(startedAt)}-fuzz`);
  mkdirSync(folder, { recursive: true });
  progress(
    `fuzz, seed ${options.seed}, ${options.runs} cases per route and family; results in ${relative(process.cwd(), folder)}`,
  );
  let broker: ChaosBroker | undefined;
  let redis: ChaosRedis | undefined;
  let system: TestSystem | undefined;
  const fatalLines: string[] = [];
  try {
    broker = await createBroker(join(folder, 'kafka'), undefined);
    await broker.start();
    redis = await createRedis(join(folder, 'redis'));
    await redis.start();
    system = await startTestSystem({
      envOverrides: { NURI_KAFKA_BROKERS: broker.address, NURI_REDIS_URL: redis.url, NURI_LOG_LEVEL: 'warn' },
      onOutputLine: (instance, line) => {
        // A fatal line, or anything not JSON (a stack printed by a dying process).
        if (/"level":60/.test(line) || (!line.startsWith('{') && line.trim() !== '')) {
          if (fatalLines.length < 50) fatalLines.push(`${instance}: ${line.slice(0, 300)}`);
        }
      },
    });
    const running = system;
    const port = Number(new URL(running.gatewayUrl).port);
    progress(`system up at ${running.gatewayUrl}; a customer, an account, a deposit, a campaign`);
    const context = await prepare(running);
    const document = (await (await fetch(`${running.gatewayUrl}/openapi.json`)).json()) as OpenApiDocument;
    const cases = [...casesOf(document, context, options.seed, options.runs), ...httpCases(context)];
    progress(
      `${cases.length} cases over ${Object.keys(document.paths).length} paths; slow clients alongside`,
    );

    const memory = startMemorySampler(running);
    const slow = slowClientsTest(port);
    const outcomes = await sendAll(port, cases, options.concurrency);
    const slowResult = await slow;
    await sleep(2_000);
    const samples = memory.stop();
    const instances = running.supervisor.list().map((instance) => ({
      name: instance.name,
      restarts: instance.restarts,
      state: instance.state,
    }));

    const findings = outcomes.flatMap(({ fuzzCase, answer }) => findingOf(fuzzCase, answer));
    const report: FuzzReport = {
      ok: false,
      seed: options.seed,
      reproduce: `npm run chaos -- fuzz --seed ${options.seed} --runs ${options.runs}`,
      options,
      machine: describeMachine(rootDir),
      times: { started: new Date(startedAt).toISOString(), finished: new Date().toISOString() },
      cases: outcomes.length,
      routes: countRoutes(outcomes),
      findings: findings.slice(0, 200),
      slow: slowResult,
      memory: samples,
      instances,
      invariants: [],
    };
    report.invariants = fuzzInvariants(report, findings, fatalLines);
    report.ok = report.invariants.every((check) => check.ok);
    writeFileSync(join(folder, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(folder, 'report.html'), renderFuzzHtml(report));
    const rows = report.invariants.map(
      (check) => `| ${check.ok ? 'held' : '**BROKEN**'} | \`${check.name}\` | ${check.summary} |`,
    );
    process.stdout.write(`\n| result | invariant | what it found |\n|---|---|---|\n${rows.join('\n')}\n\n`);
    process.stdout.write(
      `${report.ok ? 'NO FINDINGS' : 'FINDINGS'}\nreport: ${relative(process.cwd(), join(folder, 'report.html'))}\n`,
    );
    return report.ok ? 0 : 1;
  } finally {
    progress('stopping the system');
    await system?.shutdown().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
  }
}

/** A customer with an account and money, another to send to, a deposit, a campaign, and the bad tokens. */
async function prepare(system: TestSystem): Promise<FuzzContext> {
  const client = new BankClient(system.gatewayUrl);
  const secrets = environmentWithSecrets(system.env);
  const customer = await newCustomer(client);
  const other = await newCustomer(client);
  const deposit = await client.careful('POST', `/api/v1/accounts/${customer.accountNo}/deposits`, {
    token: customer.token,
    body: { amount: 1_000_000 },
    key: newKey('fund'),
  });
  await settledDeposit(client, customer, deposit.body.depositId, 60_000);
  await client.careful('POST', '/api/v1/points/charge', {
    token: customer.token,
    body: { amount: 10_000 },
    key: newKey('c'),
  });
  const campaign = await client.careful('POST', '/api/v1/admin/coupon-campaigns', {
    token: secrets.NURI_ADMIN_TOKEN!,
    body: { name: 'fuzz', quantity: 1_000 },
  });
  const payment = await client.careful('POST', '/api/v1/payments', {
    token: customer.token,
    body: { accountNo: customer.accountNo, cashAmount: 100, pointAmount: 10 },
    key: newKey('p'),
  });
  const transfer = await client.careful('POST', '/api/v1/transfers', {
    token: customer.token,
    body: { fromAccountNo: customer.accountNo, toAccountNo: other.accountNo, amount: 100 },
    key: newKey('t'),
  });
  const jwks = await client.careful('GET', '/.well-known/jwks.json');
  return {
    accessToken: customer.token,
    adminToken: secrets.NURI_ADMIN_TOKEN!,
    known: {
      accountNo: customer.accountNo,
      depositId: deposit.body.depositId,
      campaignId: campaign.body.campaignId,
      paymentId: payment.body.paymentId,
      transferId: transfer.body.transferId,
    },
    badTokens: await badTokens({
      valid: customer.token,
      publicJwk: jwks.body.keys[0],
      signingKeys: secrets.NURI_JWT_SIGNING_KEYS!,
    }),
  };
}

async function sendAll(port: number, cases: readonly FuzzCase[], concurrency: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const startedAt = Date.now();
  let lastProgress = startedAt;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const fuzzCase = cases[next]!;
        next += 1;
        outcomes.push({ fuzzCase, answer: await send(port, fuzzCase.request) });
        if (Date.now() - lastProgress > 5_000) {
          lastProgress = Date.now();
          progress(`${outcomes.length} of ${cases.length} cases sent`);
        }
      }
    }),
  );
  return outcomes;
}

/** What is wrong with an answer, if anything. */
function findingOf(fuzzCase: FuzzCase, answer: RawAnswer): FuzzFinding[] {
  const problem =
    answer.status >= 500
      ? `answered ${answer.status}`
      : answer.status === 0 && !mayGoUnanswered(fuzzCase)
        ? `no answer (${answer.failure ?? 'closed'})`
        : fuzzCase.badToken === true && answer.status < 400
          ? `a bad token was accepted (${answer.status})`
          : undefined;
  if (problem === undefined) return [];
  let code = answer.body.slice(0, 160);
  try {
    code = (JSON.parse(answer.body) as { code?: string }).code ?? code;
  } catch {
    // not JSON: the first characters
  }
  return [
    {
      route: fuzzCase.route,
      family: fuzzCase.family,
      describe: `${fuzzCase.describe}: ${problem}`,
      status: answer.status,
      answer: code,
      request: describeRequest(fuzzCase),
    },
  ];
}

/** Requests broken at the HTTP level: the server may answer 400/431 or just close the connection. */
function mayGoUnanswered(fuzzCase: FuzzCase): boolean {
  return fuzzCase.family === 'http';
}

function describeRequest(fuzzCase: FuzzCase): string {
  const { request } = fuzzCase;
  const headers = request.headers
    .map(
      ([name, value]) =>
        `${name}: ${name.toLowerCase() === 'authorization' ? 'Bearer …' : value.slice(0, 60)}`,
    )
    .join(' | ');
  const body = request.body === undefined ? '' : ` ${String(request.body).slice(0, 200)}`;
  return `${request.method} ${request.target.slice(0, 120)} [${headers.slice(0, 300)}]${body}`;
}

function countRoutes(outcomes: readonly Outcome[]): RouteCount[] {
  const routes = new Map<string, RouteCount>();
  for (const { fuzzCase, answer } of outcomes) {
    let entry = routes.get(fuzzCase.route);
    if (entry === undefined) {
      entry = { route: fuzzCase.route, cases: 0, byStatus: {}, families: {} };
      routes.set(fuzzCase.route, entry);
    }
    entry.cases += 1;
    const status = answer.status === 0 ? 'no answer' : String(answer.status);
    entry.byStatus[status] = (entry.byStatus[status] ?? 0) + 1;
    entry.families[fuzzCase.family] = (entry.families[fuzzCase.family] ?? 0) + 1;
  }
  return [...routes.values()];
}

/**
 * Slowloris: clients that send a request one byte at a time, and a body that
 * never finishes. Meanwhile a probe asks GET /health every half second: the
 * slow ones must not slow it, and the server must close them itself.
 */
async function slowClientsTest(port: number): Promise<FuzzReport['slow']> {
  const headerBytes = [...Buffer.from('GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')].map((byte) =>
    Buffer.from([byte]),
  );
  const slowHeaders = Array.from({ length: slowClients / 2 }, () =>
    exchange(
      port,
      [...headerBytes, ...Array.from({ length: 200 }, () => Buffer.from('a'))],
      slowHoldMaxMs,
      1_000,
    ),
  );
  const bodyHead = Buffer.from(
    'POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
  );
  const slowBodies = Array.from({ length: slowClients / 2 }, () =>
    exchange(port, [bodyHead, ...Array.from({ length: 999 }, () => Buffer.from(' '))], slowHoldMaxMs, 1_000),
  );
  const probes: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const started = Date.now();
      await fetch(`http://127.0.0.1:${port}/api/v1/coupon-campaigns`, { signal: AbortSignal.timeout(10_000) })
        .then((response) => response.arrayBuffer())
        .catch(() => undefined);
      probes.push(Date.now() - started);
      await sleep(probeEveryMs);
    }
  })();
  const [headers, bodies] = await Promise.all([Promise.all(slowHeaders), Promise.all(slowBodies)]);
  probing = false;
  await probe;
  const answers = [...headers, ...bodies];
  const closed = answers.filter((answer) => answer.failure !== 'timed out').map((answer) => answer.ms);
  const sorted = [...probes].sort((a, b) => a - b);
  const describe = (group: RawAnswer[]) => {
    const ended = group.filter((answer) => answer.failure !== 'timed out');
    const statuses = [
      ...new Set(ended.map((answer) => (answer.status === 0 ? 'closed' : String(answer.status)))),
    ];
    return `${ended.length} of ${group.length} ended by the server (${statuses.join(', ') || '-'})`;
  };
  return {
    clients: slowClients,
    groups: { headers: describe(headers), bodies: describe(bodies) },
    closedWithinMs: closed.sort((a, b) => a - b),
    stillOpen: answers.length - closed.length,
    probes: probes.length,
    probeP99Ms: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
    probeMaxMs: sorted.at(-1) ?? 0,
  };
}

function startMemorySampler(system: TestSystem): { stop(): FuzzReport['memory'] } {
  const seen = new Map<string, { startMb: number; maxMb: number; endMb: number }>();
  const sample = () => {
    for (const instance of system.supervisor.list()) {
      if (instance.pid === undefined) continue;
      const mb = residentMb(instance.pid);
      if (mb === undefined) continue;
      const entry = seen.get(instance.name) ?? { startMb: mb, maxMb: mb, endMb: mb };
      entry.maxMb = Math.max(entry.maxMb, mb);
      entry.endMb = mb;
      seen.set(instance.name, entry);
    }
  };
  sample();
  const timer = setInterval(sample, 1_000);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return [...seen].map(([instance, entry]) => ({ instance, ...entry }));
    },
  };
}

function residentMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1_024) : undefined;
  } catch {
    return undefined;
  }
}

function fuzzInvariants(
  report: FuzzReport,
  findings: readonly FuzzFinding[],
  fatalLines: readonly string[],
): Invariant[] {
  const of = (name: string, statement: string, list: string[], summary: string): Invariant => ({
    name,
    statement,
    ok: list.length === 0,
    summary,
    findings: list.slice(0, 40),
  });
  const serverErrors = findings.filter((finding) => finding.status >= 500);
  const unanswered = findings.filter((finding) => finding.status === 0);
  const accepted = findings.filter((finding) => finding.describe.includes('bad token was accepted'));
  const crashes = report.instances.filter((instance) => instance.restarts > 0 || instance.state !== 'ready');
  const memory = report.memory.filter(
    (entry) => entry.maxMb > memoryMaxMb || entry.endMb - entry.startMb > memoryGrowthMaxMb,
  );
  const slowProblems = [
    ...(report.slow.stillOpen > 0
      ? [
          `${report.slow.stillOpen} slow clients still connected after ${slowHoldMaxMs / 1_000} s (headers: ${report.slow.groups.headers}; bodies: ${report.slow.groups.bodies})`,
        ]
      : []),
    ...(report.slow.probeP99Ms > probeSlowMs
      ? [`other requests slowed to p99 ${report.slow.probeP99Ms} ms`]
      : []),
  ];
  const line = (finding: FuzzFinding) =>
    `${finding.route} [${finding.family}] ${finding.describe} → ${finding.answer}; ${finding.request}`;
  return [
    of(
      'no-5xx',
      'no hostile request is answered with a 5xx',
      serverErrors.map(line),
      `${report.cases} cases, ${serverErrors.length} answered 5xx`,
    ),
    of(
      'no-crash',
      'no process exited, restarted or logged a fatal error; every instance ready at the end',
      [
        ...crashes.map((instance) => `${instance.name}: ${instance.restarts} restarts, ${instance.state}`),
        ...fatalLines,
      ],
      `${report.instances.length} instances, ${report.instances.reduce((total, instance) => total + instance.restarts, 0)} restarts`,
    ),
    of(
      'bad-tokens-refused',
      'no bad token gets anything but 401',
      accepted.map(line),
      `${accepted.length} accepted`,
    ),
    of(
      'every-request-answered',
      'every well-formed request gets an answer (HTTP-level garbage may just be closed)',
      unanswered.map(line),
      `${unanswered.length} without an answer`,
    ),
    of(
      'slow-clients-contained',
      `slow clients (${report.slow.clients}: headers and bodies one byte a second) are closed by the server within ${slowHoldMaxMs / 1_000} s and do not slow others past ${probeSlowMs} ms at p99`,
      slowProblems,
      `closed after ${report.slow.closedWithinMs[0] ?? '-'}–${report.slow.closedWithinMs.at(-1) ?? '-'} ms; others p99 ${report.slow.probeP99Ms} ms (max ${report.slow.probeMaxMs}) over ${report.slow.probes} probes`,
    ),
    of(
      'memory-bounded',
      `no process passes ${memoryMaxMb} MB resident or grows by more than ${memoryGrowthMaxMb} MB over the run`,
      memory.map(
        (entry) => `${entry.instance}: ${entry.startMb} → max ${entry.maxMb}, end ${entry.endMb} MB`,
      ),
      `max ${Math.max(...report.memory.map((entry) => entry.maxMb))} MB; largest growth ${Math.max(...report.memory.map((entry) => entry.endMb - entry.startMb))} MB`,
    ),
  ];
}
