// The suite's command line: which scenarios, and how big. Pure, so it is
// unit-tested (bench/test/options.test.ts); main.ts turns it into a run.
import { parseArgs } from 'node:util';
import { parseScale, type Scale } from '../../src/cli/topology.ts';

/** The scenarios of issue 7, in the order a full run takes them. */
export const scenarioNames = [
  'coupon-rush',
  'coupon-steady',
  'withdraw',
  'withdraw-hot',
  'deposit',
  'transfer',
  'payment-saga',
  'login',
] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export function isScenarioName(name: string): name is ScenarioName {
  return (scenarioNames as readonly string[]).includes(name);
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
  /** Seconds of load per ceiling measurement. */
  ceilingDurationS: number;
  /** coupon-rush: issue requests and coupons per run, distinct users holding tokens. */
  rushRequests: number;
  rushQuantity: number;
  crowd: number;
  /** coupon-steady: requests per second, offered open loop. */
  steadyRate: number;
  /** payment-saga: payments per run, and the share that must fail on an empty account. */
  payments: number;
  failingShare: number;
  /** Customers signed up through the API, 5 accounts each (withdraw, deposit, login). */
  users: number;
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
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export const usage = `usage: npm run bench [-- [scenario…] [options]]

scenarios (default: all): ${scenarioNames.join(', ')}

  --duration S          seconds of load per timed scenario (default: 10; coupon-steady 30)
  --connections N       connections per closed-loop scenario (default: 50; coupon-rush 500)
  --runs N              repetitions per scenario and ceiling (default: 3; coupon-steady 1)
  --ceiling-duration S  seconds per ceiling measurement (default: 5)
  --no-ceilings         skip the machine's ceilings (no ratios in the report)
  --requests N          coupon-rush requests per run (default: 100000)
  --quantity N          coupon-rush coupons per run (default: 10000)
  --crowd N             coupon users holding tokens (default: 20000)
  --rate N              coupon-steady requests per second (default: 1000)
  --payments N          payment-saga payments per run (default: 10000)
  --failing F           payment-saga share failing for lack of cash (default: 0.3)
  --users N             customers signed up, 5 accounts each (default: 20)
  --results-dir DIR     where the report folders go (default: bench/results)
  --profile             run the services under --cpu-prof; profiles/<service>.<pid>.cpuprofile
                        in the report's folder (open in Chrome DevTools or speedscope)
  --scale name=n,…      run n instances of a service, as npm start -- --scale does (gateways share
                        the public port, so the load spreads over them)
  --tracing             run the services with tracing on (spans exported over OTLP to a sink in the
                        suite): compare withdraw's CPU per withdrawal with a run without it`;

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

export function parseSuiteOptions(argv: string[], defaultResultsDir: string): SuiteOptions {
  let parsed: ReturnType<typeof parseWith>;
  try {
    parsed = parseWith(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const unknown = positionals.filter((name) => !isScenarioName(name));
  if (unknown.length > 0) {
    throw new UsageError(`unknown scenario ${unknown.join(', ')}; known: ${scenarioNames.join(', ')}`);
  }
  const chosen = new Set(positionals);
  const options: SuiteOptions = {
    // Always in the catalogue's order, each once, whatever order they were named in.
    scenarios: chosen.size === 0 ? [...scenarioNames] : scenarioNames.filter((name) => chosen.has(name)),
    ceilings: !values['no-ceilings'],
    durationS: positiveInteger('--duration', values.duration),
    connections: positiveInteger('--connections', values.connections),
    runs: positiveInteger('--runs', values.runs),
    ceilingDurationS: positiveInteger('--ceiling-duration', values['ceiling-duration'], 5),
    rushRequests: positiveInteger('--requests', values.requests, 100_000),
    rushQuantity: positiveInteger('--quantity', values.quantity, 10_000),
    crowd: positiveInteger('--crowd', values.crowd, 20_000),
    steadyRate: positiveInteger('--rate', values.rate, 1_000),
    payments: positiveInteger('--payments', values.payments, 10_000),
    failingShare: share('--failing', values.failing, 0.3),
    users: positiveInteger('--users', values.users, 20),
    resultsDir: values['results-dir'] ?? defaultResultsDir,
    profile: values.profile,
    scale: parseScaleOption(values.scale),
    tracing: values.tracing,
  };
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
      'ceiling-duration': { type: 'string' },
      'no-ceilings': { type: 'boolean', default: false },
      requests: { type: 'string' },
      quantity: { type: 'string' },
      crowd: { type: 'string' },
      rate: { type: 'string' },
      payments: { type: 'string' },
      failing: { type: 'string' },
      users: { type: 'string' },
      'results-dir': { type: 'string' },
      profile: { type: 'boolean', default: false },
      scale: { type: 'string' },
      tracing: { type: 'boolean', default: false },
    },
  });
}
