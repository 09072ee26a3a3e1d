// The suite's command line: which scenarios, and how big. Pure, so it is
// unit-tested (bench/test/options.test.ts); main.ts turns it into a run.
import { parseArgs } from 'node:util';
import { logLevels } from '@nuri/platform/service';
import { parseScale, type Scale } from '../../src/cli/topology.ts';

export type LogLevel = (typeof logLevels)[number];

/**
 * Every scenario, in the order a full run takes them, with the line `--help`
 * shows for it. Through the gateway first (issue 7's scenarios and the
 * authenticated read), then straight at one service: what the gateway costs
 * each flow, and the services' own ceilings below it (the per-area scripts
 * of the service issues, folded in).
 */
export const scenarioCatalogue = [
  ['coupon-rush', 'coupon issues through the gateway until a campaign sells out'],
  ['coupon-rush-direct', 'the same rush straight at the coupon service'],
  ['coupon-steady', 'coupon issues at a steady rate (open loop) through the gateway'],
  ['coupon-steady-direct', 'the same steady rate straight at the coupon service'],
  ['coupon-issue', 'coupon issues through the gateway, every one a win, as fast as taken (closed loop)'],
  ['coupon-issue-direct', 'the same issues straight at the coupon service'],
  ['withdraw', 'withdrawals through the gateway over many accounts'],
  ['withdraw-hot', 'withdrawals through the gateway on one account'],
  ['deposit', 'deposits through the gateway, accepted and then settled'],
  ['deposit-accept', 'the same deposits with the core stopped: what acceptance alone costs'],
  ['transfer', 'transfers between accounts through the gateway'],
  ['payment-saga', 'payments (points + cash) through the gateway, until each is terminal'],
  ['payment-saga-direct', 'the same payments straight at point'],
  ['login', 'logins through the gateway (argon2id)'],
  ['me', 'GET /api/v1/me through the gateway (an authenticated read)'],
  ['me-direct', 'the same read straight at channel-user'],
  ['core-deposits', 'deposit.requested produced to Kafka, applied by a core-payment of its own'],
  ['core-withdraw', "withdrawals on core-payment's internal route, many accounts"],
  ['core-withdraw-hot', "withdrawals on core-payment's internal route, one account"],
  ['outbox-relay-postgres', 'outbox → Kafka → inbox on PostgreSQL, no service'],
  ['outbox-relay-mariadb', 'outbox → Kafka → inbox on MariaDB, no service'],
  ['peer-coupon-nuri', 'our coupon rush, straight, with the driver peer-coupon-seed gets (only when named)'],
  ['peer-coupon-seed', "the seed's coupon service (--peer-src), the same rush (only when named)"],
] as const;

export type ScenarioName = (typeof scenarioCatalogue)[number][0];

export const scenarioNames: readonly ScenarioName[] = scenarioCatalogue.map(([name]) => name);

/**
 * Run only when named: the comparison with the seed builds and runs another
 * code base (from a checkout the user points at), so a plain `npm run bench`
 * leaves it out.
 */
export const scenariosOnlyWhenNamed: readonly ScenarioName[] = ['peer-coupon-nuri', 'peer-coupon-seed'];

/** What a run without scenario names takes: every scenario but those run only when named. */
export const defaultScenarioNames: readonly ScenarioName[] = scenarioNames.filter(
  (name) => !scenariosOnlyWhenNamed.includes(name),
);

/** The scenarios that build and run the seed's coupon service: they need --peer-src. */
const scenariosNeedingPeerSource: readonly ScenarioName[] = ['peer-coupon-seed'];

/**
 * Names that stand for several scenarios: the per-area scripts' names, each
 * for the scenarios that now measure what the script did.
 */
export const scenarioGroups: Readonly<Record<string, readonly ScenarioName[]>> = {
  'outbox-relay': ['outbox-relay-postgres', 'outbox-relay-mariadb'],
  'core-payment': ['core-deposits', 'core-withdraw', 'core-withdraw-hot'],
  coupon: ['coupon-rush-direct', 'coupon-steady-direct'],
  channel: ['withdraw', 'deposit', 'me', 'me-direct'],
  'peer-coupon': ['peer-coupon-nuri', 'peer-coupon-seed'],
};

export function isScenarioName(name: string): name is ScenarioName {
  return (scenarioNames as readonly string[]).includes(name);
}

/** The scenarios a name on the command line stands for: itself, or a group's; undefined when unknown. */
export function scenariosNamedBy(name: string): readonly ScenarioName[] | undefined {
  if (isScenarioName(name)) return [name];
  return Object.hasOwn(scenarioGroups, name) ? scenarioGroups[name] : undefined;
}

export interface SuiteOptions {
  scenarios: ScenarioName[];
  /** Measure the machine's ceilings the selected scenarios compare against. */
  ceilings: boolean;
  /** Seconds of load for timed scenarios; undefined keeps each scenario's default. */
  durationS: number | undefined;
  /** Connections for every closed-loop scenario; undefined keeps each scenario's default. */
  connections: number | undefined;
  /** Repetitions of every scenario and ceiling; undefined keeps each one's default. */
  runs: number | undefined;
  /** One run of every scenario before its measured runs, checked but left out of its figures. */
  warmUp: boolean;
  /** Seconds of load per ceiling measurement. */
  ceilingDurationS: number;
  /** coupon-rush (and -direct): issue requests and coupons per run, distinct users holding tokens. */
  rushRequests: number;
  rushQuantity: number;
  /** The rush's users; also coupon-issue's new users per run, each issuing once. */
  crowd: number;
  /** coupon-steady (and -direct): requests per second, offered open loop. */
  steadyRate: number;
  /** payment-saga (and -direct): payments per run, and the share that must fail on an empty account. */
  payments: number;
  failingShare: number;
  /** Customers signed up through the API, 5 accounts each (withdraw, deposit, transfer, me). */
  users: number;
  /** core-*: accounts opened at the scenarios' own core-payment, one user each. */
  coreAccounts: number;
  /** core-deposits: deposit.requested events produced per run. */
  coreDeposits: number;
  /** outbox-relay-*: events written to the outbox and relayed per run. */
  outboxEvents: number;
  /** Where `<timestamp>/report.json` and `report.html` go. */
  resultsDir: string;
  /** Start the services with --cpu-prof: one .cpuprofile per service in the report's folder. */
  profile: boolean;
  /** Instances per service (`--scale gateway=2`), as for `npm start`; absent ones run once. */
  scale: Scale;
  /**
   * Run the system with OpenTelemetry tracing on, exporting every span over
   * OTLP/HTTP to a sink in the suite's process: compare CPU per withdrawal
   * with a run without it (what tracing costs).
   */
  tracing: boolean;
  /**
   * The services' NURI_LOG_LEVEL: warn by default (no line per request, as
   * every figure since the issue's was measured), info as deployed (one
   * access line per request in each service); NURI_E2E_LOG_LEVEL when no
   * --log-level is given.
   */
  logLevel: LogLevel;
  /**
   * A checkout of the seed (FISA-Team-CE/tech-semina-msa): its root or its
   * cloud-services/msa-coupon-service folder, for peer-coupon-seed.
   */
  peerSrc: string | undefined;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export const usage = `usage: npm run bench [-- [scenario…] [options]]

scenarios (default: all but those run only when named, in this order):
${scenarioCatalogue.map(([name, line]) => `  ${name.padEnd(22)}${line}`).join('\n')}

groups (each stands for its scenarios; all but peer-coupon are the names of the former per-area scripts):
${Object.entries(scenarioGroups)
  .map(([name, members]) => `  ${name.padEnd(22)}${members.join(', ')}`)
  .join('\n')}

options:
  --duration S          seconds of load per timed scenario (default: 10; coupon-steady 30)
  --connections N       connections per closed-loop scenario (default: 50; coupon-rush 500)
  --runs N              repetitions per scenario and ceiling (default: 3; coupon-steady 1)
  --no-warm-up          no unmeasured run 0 before each scenario's runs (by default one runs, its
                        invariants checked, left out of the figures: a cold JIT made run 1 the slowest)
  --ceiling-duration S  seconds per ceiling measurement (default: 5)
  --no-ceilings         skip the machine's ceilings (no ratios in the report)
  --requests N          coupon-rush(-direct) requests per run (default: 100000)
  --quantity N          coupon-rush(-direct) coupons per run (default: 10000)
  --crowd N             coupon-rush users holding tokens (default: 20000); coupon-issue(-direct): new users a run, each issuing once
  --rate N              coupon-steady(-direct) requests per second (default: 1000)
  --payments N          payment-saga(-direct) payments per run (default: 10000)
  --failing F           payment-saga(-direct) share failing for lack of cash (default: 0.3)
  --users N             customers signed up, 5 accounts each (default: 20)
  --accounts N          core-*: accounts at their own core-payment (default: 1000)
  --deposits N          core-deposits: deposits produced per run (default: 50000)
  --events N            outbox-relay-*: events per run (default: 100000)
  --results-dir DIR     where the report folders go (default: bench/results)
  --profile             run the services under --cpu-prof; profiles/<service>.<pid>.cpuprofile
                        in the report's folder (open in Chrome DevTools or speedscope)
  --scale name=n,…      run n instances of a service, as npm start -- --scale does (gateways share
                        the public port, so the load spreads over them)
  --log-level L         the services' NURI_LOG_LEVEL (default: warn, or NURI_E2E_LOG_LEVEL; npm start,
                        Compose and Kubernetes run info: one access line per request in each service)
  --tracing             run the services with tracing on (spans exported over OTLP to a sink in the
                        suite): compare withdraw's CPU per withdrawal with a run without it
  --peer-src DIR        peer-coupon(-seed): a checkout of github.com/FISA-Team-CE/tech-semina-msa (its
                        root or its cloud-services/msa-coupon-service); built with Maven in a temporary
                        folder, nothing of it is copied here`;

function positiveInteger(flag: string, text: string | undefined, fallback: number): number;
function positiveInteger(flag: string, text: string | undefined, fallback?: undefined): number | undefined;
function positiveInteger(flag: string, text: string | undefined, fallback?: number): number | undefined {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${flag} wants a positive integer, not '${text}'`);
  }
  return Number(text);
}

function parseScaleOption(text: string | undefined): Scale {
  try {
    return parseScale(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function share(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^(0|1|0?\.\d+)$/.test(text) || value < 0 || value >= 1) {
    throw new UsageError(`${flag} wants a share in [0, 1), not '${text}'`);
  }
  return value;
}

function logLevelOf(flag: string, text: string): LogLevel {
  if (!(logLevels as readonly string[]).includes(text)) {
    throw new UsageError(`${flag} wants one of ${logLevels.join(', ')}, not '${text}'`);
  }
  return text as LogLevel;
}

export function parseSuiteOptions(
  argv: string[],
  defaultResultsDir: string,
  environment: NodeJS.ProcessEnv = {},
): SuiteOptions {
  let parsed: ReturnType<typeof parseWith>;
  try {
    parsed = parseWith(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const unknown = positionals.filter((name) => scenariosNamedBy(name) === undefined);
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown scenario ${unknown.join(', ')}; known: ${scenarioNames.join(', ')}; groups: ${Object.keys(scenarioGroups).join(', ')}`,
    );
  }
  const chosen = new Set(positionals.flatMap((name) => scenariosNamedBy(name) ?? []));
  const options: SuiteOptions = {
    // Always in the catalogue's order, each once, whatever order they were named in.
    scenarios:
      chosen.size === 0 ? [...defaultScenarioNames] : scenarioNames.filter((name) => chosen.has(name)),
    ceilings: !values['no-ceilings'],
    durationS: positiveInteger('--duration', values.duration),
    connections: positiveInteger('--connections', values.connections),
    runs: positiveInteger('--runs', values.runs),
    warmUp: !values['no-warm-up'],
    ceilingDurationS: positiveInteger('--ceiling-duration', values['ceiling-duration'], 5),
    rushRequests: positiveInteger('--requests', values.requests, 100_000),
    rushQuantity: positiveInteger('--quantity', values.quantity, 10_000),
    crowd: positiveInteger('--crowd', values.crowd, 20_000),
    steadyRate: positiveInteger('--rate', values.rate, 1_000),
    payments: positiveInteger('--payments', values.payments, 10_000),
    failingShare: share('--failing', values.failing, 0.3),
    users: positiveInteger('--users', values.users, 20),
    coreAccounts: positiveInteger('--accounts', values.accounts, 1_000),
    coreDeposits: positiveInteger('--deposits', values.deposits, 50_000),
    outboxEvents: positiveInteger('--events', values.events, 100_000),
    resultsDir: values['results-dir'] ?? defaultResultsDir,
    profile: values.profile,
    scale: parseScaleOption(values.scale),
    tracing: values.tracing,
    logLevel:
      values['log-level'] !== undefined
        ? logLevelOf('--log-level', values['log-level'])
        : logLevelOf('NURI_E2E_LOG_LEVEL', environment.NURI_E2E_LOG_LEVEL ?? 'warn'),
    peerSrc: values['peer-src'],
  };
  const needPeer = options.scenarios.filter((name) => scenariosNeedingPeerSource.includes(name));
  if (needPeer.length > 0 && (options.peerSrc === undefined || options.peerSrc === '')) {
    throw new UsageError(
      `${needPeer.join(', ')} builds the seed's coupon service from a checkout of it: pass --peer-src DIR ` +
        '(git clone https://github.com/FISA-Team-CE/tech-semina-msa DIR; its root or its cloud-services/msa-coupon-service)',
    );
  }
  if (options.rushQuantity > options.rushRequests) {
    throw new UsageError(
      `--quantity ${options.rushQuantity} cannot sell out with --requests ${options.rushRequests}`,
    );
  }
  if (options.rushQuantity > options.crowd) {
    throw new UsageError(
      `--quantity ${options.rushQuantity} needs at least as many users: --crowd ${options.crowd}`,
    );
  }
  return options;
}

function parseWith(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      runs: { type: 'string' },
      'no-warm-up': { type: 'boolean', default: false },
      'ceiling-duration': { type: 'string' },
      'no-ceilings': { type: 'boolean', default: false },
      requests: { type: 'string' },
      quantity: { type: 'string' },
      crowd: { type: 'string' },
      rate: { type: 'string' },
      payments: { type: 'string' },
      failing: { type: 'string' },
      users: { type: 'string' },
      accounts: { type: 'string' },
      deposits: { type: 'string' },
      events: { type: 'string' },
      'results-dir': { type: 'string' },
      profile: { type: 'boolean', default: false },
      scale: { type: 'string' },
      tracing: { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      'peer-src': { type: 'string' },
    },
  });
}
