// `npm run bench`: boots the whole system as `npm start` does, seeds it
// through the public API, measures the machine's ceilings, runs every
// scenario (through the gateway, straight at one service, or below the
// services), checks each one's invariants and the services' reconciliation,
// and writes bench/results/<timestamp>/report.json and report.html.
//
// runBench is the suite's one entry point: `nuri bench` calls it, and so does
//   node bench/suite/main.ts [scenario…] [--duration S] [--connections N] [--runs N] …
//   (--help lists every scenario and option)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reconciliationChecks } from '../../src/cli/commands/reconcile.ts';
import { kafkaBrokerList, loadCliConfig } from '../../src/cli/config.ts';
import { catalogue } from './catalogue.ts';
import { ceilingsToMeasure, measureCeilings } from './ceilings.ts';
import { cpuMsPerOperation, describeMachine, loadAverage } from './machine.ts';
import { parseSuiteOptions, type SuiteOptions, UsageError, usage } from './options.ts';
import { progress } from './progress.ts';
import {
  type CeilingReport,
  type Invariant,
  type RunRecord,
  renderSummaryTable,
  type ScenarioReport,
  type SuiteReport,
  summarizeScenario,
} from './report.ts';
import { renderHtml } from './report-html.ts';
import { type CeilingName, type Infrastructure, type Scenario, SuiteContext } from './scenario.ts';
import { digitsForUnit, formatNumber } from './stats.ts';
import { type BenchSystem, instrumentationFor, startBenchSystem } from './system.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function loadGeneratorDescription(): SuiteReport['loadGenerator'] {
  const autocannonVersion = (createRequire(import.meta.url)('autocannon/package.json') as { version: string })
    .version;
  const wrk = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim();
  return {
    tool: `autocannon ${autocannonVersion} (closed loop) and node:http (coupon-steady's open loop; the closed loop of peer-coupon-*, since the seed closes the connection after every 4xx), in a child process of their own; core-deposits' events are produced by the suite itself`,
    why:
      (wrk === ''
        ? 'wrk (C, the lightest generator per request) is not installed on this host, so it could not be the choice. '
        : `wrk is installed (${wrk}) but cannot script per-request bodies, keys and tokens, or collect the answers the invariants need. `) +
      'autocannon writes pre-built request buffers on raw sockets, which costs less CPU per request than undici or node:http clients; ' +
      'in its own process its CPU is measured exactly (process.cpuUsage) and reported as the "load gen CPU" share of the machine, and it does not share an event loop with the suite’s seeding and checks.',
  };
}

async function runScenario(
  context: SuiteContext,
  scenario: Scenario,
  ceilings: readonly CeilingReport[],
): Promise<ScenarioReport> {
  const runs = context.options.runs ?? scenario.defaultRuns;
  const records: RunRecord[] = [];
  let warmUp: RunRecord | undefined;
  let error: string | undefined;
  try {
    progress(`${scenario.name}: preparing`);
    await scenario.prepare(context);
    if (context.options.warmUp) {
      progress(`${scenario.name}: warm-up (run 0, checked, not counted)`);
      warmUp = await measuredRun(context, scenario, 0, 'warm-up');
    }
    for (let run = 1; run <= runs; run += 1) {
      progress(`${scenario.name}: run ${run}/${runs}`);
      records.push(await measuredRun(context, scenario, run, `run ${run}/${runs}`));
    }
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
    progress(`${scenario.name}: FAILED: ${error}`);
  }
  return summarizeScenario(scenario, records, ceilings, error, warmUp);
}

/** One run of `scenario`, its CPU per operation worked out, with a progress line naming it `label`. */
async function measuredRun(
  context: SuiteContext,
  scenario: Scenario,
  run: number,
  label: string,
): Promise<RunRecord> {
  const outcome = await scenario.run(context, run);
  const perOperation = cpuMsPerOperation(
    outcome.cpu,
    context.cores,
    outcome.operations,
    scenario.measuredGroups,
  );
  const broken = outcome.invariants.filter((check) => !check.ok);
  progress(
    `${scenario.name}: ${label}: ${formatNumber(outcome.figure, digitsForUnit(scenario.unit))} ${scenario.unit}, p99 ${formatNumber(outcome.load.latency.p99Ms, 1)} ms, ${formatNumber(perOperation.total, 3)} ms CPU per operation, load gen ${(outcome.load.cpu.machineShare * 100).toFixed(0)} % of the machine; ` +
      (broken.length === 0 ? 'invariants held' : `BROKEN: ${broken.map((check) => check.name).join('; ')}`),
  );
  return {
    run,
    figure: outcome.figure,
    figures: { ...outcome.figures, cpuMsPerOp: perOperation.total },
    operations: outcome.operations,
    cpuMsPerOpByGroup: perOperation.byGroup,
    latency: outcome.load.latency,
    statuses: outcome.statuses,
    inDoubt: outcome.load.inDoubt.length,
    samples: outcome.load.samples,
    durationS: outcome.load.durationS,
    loadGeneratorShare: outcome.load.cpu.machineShare,
    cpu: outcome.cpu,
    invariants: outcome.invariants,
  };
}

/**
 * `nuri reconcile`'s checks against this run's services: core-payment's
 * ledger, point's wallets and payments, coupon's Redis against the core,
 * channel-user's deposits against core-payment's.
 */
async function reconcile(context: SuiteContext): Promise<Invariant[]> {
  const config = loadCliConfig({
    ...process.env,
    NURI_CHANNEL_USER_URL: context.system.channelUserUrl,
    NURI_CORE_PAYMENT_URL: context.system.corePaymentUrl,
    NURI_POINT_URL: context.system.pointUrl,
    NURI_COUPON_URL: context.system.couponUrl,
  });
  try {
    const services = await reconciliationChecks(config, context.system.opsToken);
    return services.flatMap(({ service, checks }) =>
      checks.map((check) => ({
        name: `${service}: ${check.label}`,
        ok: check.ok,
        detail: [check.summary, ...check.findings.slice(0, 5)].join('; '),
      })),
    );
  } catch (error) {
    return [
      { name: 'every service answered its reconciliation', ok: false, detail: (error as Error).message },
    ];
  }
}

function timestamp(date: Date): string {
  return date
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
}

function writeReport(report: SuiteReport, folder: string): void {
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(folder, 'report.html'), renderHtml(report));
}

/**
 * Node names a profile CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile;
 * the pid tells which service it was. Processes no load saw (the
 * migrations, which ran before any) are of no interest: their profiles go.
 */
function nameProfiles(profileDir: string, groups: ReadonlyMap<number, string>): string[] {
  const named: string[] = [];
  for (const file of readdirSync(profileDir).filter((name) => name.endsWith('.cpuprofile'))) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1]);
    const group = groups.get(pid);
    if (group === undefined) {
      rmSync(join(profileDir, file));
      continue;
    }
    const name = `${group.replaceAll(' ', '-')}.${pid}.cpuprofile`;
    renameSync(join(profileDir, file), join(profileDir, name));
    named.push(join('profiles', name));
  }
  return named.sort();
}

async function runSuite(options: SuiteOptions, command: string): Promise<number> {
  const cliConfig = loadCliConfig();
  const infrastructure: Infrastructure = {
    pgUrl: cliConfig.NURI_PG_URL,
    mysqlUrl: cliConfig.NURI_MYSQL_URL,
    redisUrl: cliConfig.NURI_REDIS_URL,
    brokers: kafkaBrokerList(cliConfig),
  };
  // Every service the run starts (the system's, core-*'s own core-payment) reads it.
  process.env.NURI_E2E_LOG_LEVEL = options.logLevel;
  const startedAt = new Date();
  const machine = describeMachine(repoRoot);
  const loadAverageBefore = loadAverage();
  const scenarios = catalogue.filter((scenario) => options.scenarios.includes(scenario.name));
  progress(
    `${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, commit ${machine.commit.slice(0, 12)}${machine.dirty ? '+' : ''}, load average ${loadAverageBefore.join(' ')}`,
  );
  const ceilingsToRun = options.ceilings
    ? ceilingsToMeasure(
        new Set<CeilingName>(scenarios.flatMap((scenario) => scenario.comparisons.map((c) => c.ceiling))),
      )
    : [];
  const needsSystem =
    scenarios.some((scenario) => scenario.withoutSystem !== true) ||
    ceilingsToRun.some((ceiling) => ceiling.usesSystem === true);
  const scaled = Object.entries(options.scale).map(([name, count]) => `${name}×${count}`);
  const runId = randomBytes(4).toString('hex');
  progress(
    `scenarios: ${scenarios.map((scenario) => scenario.name).join(', ')}; ` +
      (!needsSystem
        ? 'they need no system, only the shared servers: none booted'
        : `booting the system${scaled.length === 0 ? ' (one instance of each service)' : ` (${scaled.join(', ')}, the rest once)`}, databases *_e2e_${runId}`),
  );
  const folder = join(options.resultsDir, timestamp(startedAt));
  const profileDir = options.profile ? join(folder, 'profiles') : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  let stopping = false;
  let context: SuiteContext | undefined;
  // Kept as a promise so that a signal during the boot waits for it and stops what it started.
  const booting: Promise<BenchSystem | undefined> = needsSystem
    ? startBenchSystem({
        runId,
        scale: options.scale,
        tracing: options.tracing,
        ...(profileDir === undefined ? {} : { profileDir }),
      })
    : Promise.resolve(undefined);
  const stop = async (signal: string) => {
    // One Ctrl-C may come twice (from the terminal and forwarded by bin/nuri.mjs): the first stops.
    if (stopping) return;
    stopping = true;
    progress(`${signal}: stopping what the run started and dropping its databases`);
    const failed = (error: unknown) => progress(`${signal}: stopping failed: ${String(error)}`);
    await context?.close().catch(failed);
    // A boot that failed has cleaned up after itself (e2e/harness.ts).
    const booted = await booting.catch(() => undefined);
    await booted?.shutdown().catch(failed);
    progress(`${signal}: stopped`);
    process.exit(130);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
  const system = await booting;
  if (stopping) return new Promise<never>(() => undefined);
  context = new SuiteContext(
    system,
    options,
    infrastructure,
    instrumentationFor(profileDir === undefined ? {} : { profileDir }),
    machine.cores,
    randomBytes(4).toString('hex'),
  );
  let ceilings: CeilingReport[] = [];
  const reports: ScenarioReport[] = [];
  let reconciliation: Invariant[] = [];
  try {
    if (system !== undefined)
      progress(`system up, gateway ${system.gatewayUrl}, databases ${system.databases.join(', ')}`);
    if (ceilingsToRun.length > 0) {
      ceilings = await measureCeilings(
        context,
        { repoRoot, ...infrastructure },
        ceilingsToRun,
        options.runs ?? 3,
      );
    }
    for (const scenario of scenarios) {
      if (stopping) break;
      reports.push(await runScenario(context, scenario, ceilings));
    }
    if (system !== undefined && !stopping) {
      progress('reconciliation (nuri reconcile against this system)');
      reconciliation = await reconcile(context);
    }
  } finally {
    if (!stopping) {
      progress(system === undefined ? 'stopping what the run started' : 'stopping the system');
      await context.close();
      await system?.shutdown();
    }
  }
  // Stopped by a signal: what ran is not a result; the signal's stop ends the process.
  if (stopping) return new Promise<never>(() => undefined);
  const report: SuiteReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    options,
    machine,
    loadAverageBefore,
    loadAverageAfter: loadAverage(),
    loadGenerator: loadGeneratorDescription(),
    seeding: context.seeding,
    ceilings,
    scenarios: reports,
    reconciliation,
    profiles: profileDir === undefined ? [] : nameProfiles(profileDir, context.processGroups),
    ok:
      reports.every((scenario) => scenario.status === 'PASSED') && reconciliation.every((check) => check.ok),
  };
  writeReport(report, folder);
  process.stdout.write(renderSummaryTable(report));
  process.stdout.write(
    `\nreport: ${relative(process.cwd(), join(folder, 'report.html'))} (and report.json)\n`,
  );
  return report.ok ? 0 : 1;
}

/**
 * The suite's one entry point: `argv` as after `npm run bench --`. Resolves
 * with the exit code: 0 when every invariant held, 1 when one broke, 2 on a
 * usage error (said on stderr with the usage; --help prints it on stdout).
 * `beforeRun` runs once the arguments are known to be good, before anything
 * boots (`nuri bench` brings the infrastructure up there).
 */
export async function runBench(
  argv: readonly string[],
  hooks: { beforeRun?: () => Promise<void> } = {},
): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  let options: SuiteOptions;
  try {
    options = parseSuiteOptions([...argv], join(repoRoot, 'bench', 'results'), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${usage}\n`);
    return 2;
  }
  await hooks.beforeRun?.();
  return runSuite(options, ['npm run bench --', ...argv].join(' '));
}

if (import.meta.main) {
  // Idle keep-alive sockets and clients must not hold the exit once the report is written.
  process.exit(await runBench(process.argv.slice(2)));
}
