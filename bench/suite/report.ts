// report.json's shape, and the plain-text summary printed at the end.
import type { CpuBreakdown, MachineInfo } from './machine.ts';
import type { ScenarioName, SuiteOptions } from './options.ts';
import type { CeilingName, Scenario } from './scenario.ts';
import { digitsForUnit, formatNumber, type LatencySummary, ratio, type Spread, spreadOf } from './stats.ts';

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunRecord {
  run: number;
  /** The scenario's headline figure for this run, in its unit. */
  figure: number;
  /**
   * Its other figures by name (drain time, settle percentiles, …), among them
   * `cpuMsPerOp`: CPU milliseconds of every process group of the system (not
   * the load generator, not the suite) per operation.
   */
  figures: Record<string, number>;
  /** What `cpuMsPerOp` divides by: the operations answered (and completed, where that comes later). */
  operations: number;
  /** `cpuMsPerOp` by process group. */
  cpuMsPerOpByGroup: Record<string, number>;
  /** Client-side latency of the load's answers. */
  latency: LatencySummary;
  statuses: Record<string, number>;
  /** Sent and unanswered when the load ended (then settled by re-sending, where the API allows). */
  inDoubt: number;
  /** Answers completed per second of the load. */
  samples: number[];
  durationS: number;
  /** The load generator's own share of the machine (all cores), 0–1. */
  loadGeneratorShare: number;
  cpu: CpuBreakdown;
  invariants: Invariant[];
}

export interface Comparison {
  /** Which figure: the headline, or one named in `figures`. */
  figure: string;
  value: number;
  ceiling: string;
  ceilingTitle: string;
  ceilingValue: number | undefined;
  ratio: number | undefined;
}

export interface ScenarioReport {
  name: ScenarioName;
  title: string;
  description: string;
  /** The headline figure's name and unit ("accepted/s", "avg ms"). */
  unit: string;
  higherIsBetter: boolean;
  target: { text: string; met: boolean | undefined };
  status: 'PASSED' | 'FAILED';
  error?: string;
  figure: Spread;
  figures: Record<string, Spread>;
  latency: { averageMs: Spread; p50Ms: Spread; p90Ms: Spread; p99Ms: Spread };
  loadGeneratorShare: Spread;
  comparisons: Comparison[];
  /**
   * CPU per operation ÷ CPU per request of the jwks-gateway ceiling measured
   * in the same run: what an operation costs in units of the cheapest request
   * through the gateway, a figure that a faster or slower hour of a shared
   * machine moves far less than milliseconds.
   */
  cpuPerGatewayRequest?: Spread;
  runs: RunRecord[];
  /**
   * The unmeasured first run (run 0; absent with --no-warm-up): it warms the
   * JIT and the caches of the paths this scenario takes, and is left out of
   * every figure above, but its invariants count like any run's.
   */
  warmUp?: RunRecord;
}

export interface CeilingReport {
  name: string;
  title: string;
  unit: string;
  how: string;
  value: Spread;
  /** Where the ceiling was loaded by our generator: its share of the machine. */
  loadGeneratorShare?: Spread;
  /** Routes of the system: CPU ms of every system process per answered request; coupon-hand-off: the broker's per send. */
  cpuMsPerRequest?: Spread;
  /** jwks-gateway: the gateway process's own CPU ms per answered request, its hop. */
  gatewayCpuMsPerRequest?: Spread;
  /**
   * Route ceilings: latency at a light fixed rate, where no queue hides what a
   * hop costs; with the system's CPU per request at that rate, and the idle
   * system's CPU ms a second watched just before.
   */
  lightLoad?: {
    ratePerSecond: number;
    p50Ms: Spread;
    p99Ms: Spread;
    cpuMsPerRequest?: Spread;
    idleCpuMsPerSecond?: Spread;
  };
  error?: string;
}

export interface SuiteReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  options: SuiteOptions;
  machine: MachineInfo;
  loadAverageBefore: [number, number, number];
  loadAverageAfter: [number, number, number];
  loadGenerator: { tool: string; why: string };
  /** What was seeded through the public API before the load, and what was not. */
  seeding: string[];
  ceilings: CeilingReport[];
  scenarios: ScenarioReport[];
  /** `nuri reconcile`'s three checks, asked of the services after every scenario. */
  reconciliation: Invariant[];
  /** With --profile: the services' .cpuprofile files, relative to the report. */
  profiles: string[];
  ok: boolean;
}

export function formatSpread(spread: Spread, digits = 0): string {
  if (spread.values.length === 0) return '—';
  if (spread.values.length === 1) return formatNumber(spread.median, digits);
  return `${formatNumber(spread.median, digits)} (${formatNumber(spread.min, digits)}–${formatNumber(spread.max, digits)})`;
}

export function formatShare(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return `${(value * 100).toFixed(value < 0.1 ? 1 : 0)} %`;
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function targetMark(met: boolean | undefined): string {
  if (met === undefined) return '';
  return met ? ' ✓' : ' ✗';
}

/** "52 % of jwks-gateway" for a rate; "coupon-hand-off 9 % of it" for a latency (its floor over it). */
export function describeComparison(
  scenario: Pick<ScenarioReport, 'higherIsBetter'>,
  comparison: Pick<Comparison, 'ratio' | 'ceiling'>,
): string {
  return scenario.higherIsBetter
    ? `${formatShare(comparison.ratio)} of ${comparison.ceiling}`
    : `${comparison.ceiling} ${formatShare(comparison.ratio)} of it`;
}

/** A ceiling's latency at its fixed rate (and a route's CPU per request there), or '—' for the others. */
export function formatLightLoad(ceiling: CeilingReport): string {
  if (ceiling.lightLoad === undefined) return '—';
  const { ratePerSecond, p50Ms, p99Ms, cpuMsPerRequest } = ceiling.lightLoad;
  const latency = `${formatNumber(p50Ms.median, 2)} / ${formatNumber(p99Ms.median, 2)} at ${formatNumber(ratePerSecond)}/s`;
  return cpuMsPerRequest === undefined
    ? latency
    : `${latency}, ${formatNumber(cpuMsPerRequest.median, 3)} ms CPU/req`;
}

export interface LightLoadCpu {
  ratePerSecond: number;
  /** jwks-gateway's CPU per request (every system process) at the light rate, median. */
  lightMs: number;
  /** The same at saturation (the ceiling's closed loop), median. */
  saturatedMs: number;
  /** The idle system's CPU ms a second, median; undefined when not watched. */
  idleMsPerSecond: number | undefined;
}

/** A ceiling of the run by name, unless it was not measured (its error said why). */
function measuredCeiling(ceilings: readonly CeilingReport[], name: CeilingName): CeilingReport | undefined {
  const ceiling = ceilings.find((candidate) => candidate.name === name);
  return ceiling?.error === undefined ? ceiling : undefined;
}

/**
 * What the cheapest request through the gateway costs when requests come one
 * at a time against when they crowd in: undefined unless jwks-gateway measured both.
 */
export function lightLoadCpu(ceilings: readonly CeilingReport[]): LightLoadCpu | undefined {
  const gateway = measuredCeiling(ceilings, 'jwks-gateway');
  if (gateway === undefined) return undefined;
  const light = gateway.lightLoad?.cpuMsPerRequest?.median;
  const saturated = gateway.cpuMsPerRequest?.median;
  if (light === undefined || saturated === undefined || light <= 0 || saturated <= 0) return undefined;
  return {
    ratePerSecond: gateway.lightLoad!.ratePerSecond,
    lightMs: light,
    saturatedMs: saturated,
    idleMsPerSecond: gateway.lightLoad!.idleCpuMsPerSecond?.median,
  };
}

export function describeLightLoadCpu(cpu: LightLoadCpu): string {
  const idle =
    cpu.idleMsPerSecond === undefined
      ? ''
      : `; the idle system alone spends ${formatNumber(cpu.idleMsPerSecond, 0)} ms of CPU a second, ` +
        `${formatNumber(cpu.idleMsPerSecond / cpu.ratePerSecond, 3)} per request at that rate`;
  return (
    `at ${formatNumber(cpu.ratePerSecond)} req/s offered a jwks-gateway request costs ` +
    `${formatNumber(cpu.lightMs, 3)} ms of CPU across the system, ${formatNumber(cpu.saturatedMs, 3)} at saturation: ` +
    `${formatNumber(cpu.lightMs / cpu.saturatedMs, 1)} ×${idle}`
  );
}

export interface AddedLatency {
  ratePerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * What the gateway adds to a call: the same route through it minus direct,
 * median against median, at the light rate (where neither side queues).
 * Undefined unless both were measured at the same rate.
 */
export function gatewayAddedLatency(ceilings: readonly CeilingReport[]): AddedLatency | undefined {
  const direct = ceilings.find((ceiling) => ceiling.name === 'jwks-direct')?.lightLoad;
  const viaGateway = ceilings.find((ceiling) => ceiling.name === 'jwks-gateway')?.lightLoad;
  if (direct === undefined || viaGateway === undefined) return undefined;
  if (direct.ratePerSecond !== viaGateway.ratePerSecond) return undefined;
  return {
    ratePerSecond: direct.ratePerSecond,
    p50Ms: viaGateway.p50Ms.median - direct.p50Ms.median,
    p99Ms: viaGateway.p99Ms.median - direct.p99Ms.median,
  };
}

export function describeAddedLatency(added: AddedLatency): string {
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${formatNumber(value, 2)}`;
  return (
    `the gateway adds p50 ${signed(added.p50Ms)} ms, p99 ${signed(added.p99Ms)} ms over a direct call ` +
    `(jwks at ${formatNumber(added.ratePerSecond)} req/s offered)`
  );
}

export interface HopCpu {
  /** The gateway process's own CPU per jwks-gateway request, median. */
  gatewayMs: number;
  /** A bare proxy's (the bare-proxy ceiling: the proxy process alone), median. */
  bareMs: number;
}

/**
 * What one hop through the gateway costs in CPU (its process alone, per
 * request of the jwks-gateway ceiling) against the least a hop costs here
 * (bare-proxy's proxy process); undefined unless both were measured.
 */
export function gatewayHopCpu(ceilings: readonly CeilingReport[]): HopCpu | undefined {
  const gateway = measuredCeiling(ceilings, 'jwks-gateway')?.gatewayCpuMsPerRequest?.median;
  const bare = measuredCeiling(ceilings, 'bare-proxy')?.cpuMsPerRequest?.median;
  if (gateway === undefined || bare === undefined || gateway <= 0 || bare <= 0) return undefined;
  return { gatewayMs: gateway, bareMs: bare };
}

export function describeGatewayHop(hop: HopCpu): string {
  return (
    `a hop costs ${formatNumber(hop.gatewayMs, 3)} ms of CPU per request in the gateway ` +
    `(its process, jwks-gateway), ${formatNumber(hop.bareMs, 3)} in a bare proxy ` +
    `(bare-proxy): ${formatNumber(hop.gatewayMs / hop.bareMs, 2)} ×`
  );
}

/** The access log is written at info (http.ts); a level above it (warn, error, fatal, silent) writes none. */
function writesAccessLog(level: string): boolean {
  return level === 'info' || level === 'debug' || level === 'trace';
}

/** The plain-text summary: one line per scenario and per ceiling. */
export function renderSummaryTable(report: SuiteReport): string {
  const scenarioRows = report.scenarios.map((scenario) => [
    scenario.name,
    scenario.status,
    `${formatSpread(scenario.figure, digitsForUnit(scenario.unit))} ${scenario.unit}`,
    `${formatNumber(scenario.latency.p50Ms.median, 1)} / ${formatNumber(scenario.latency.p99Ms.median, 1)}`,
    scenario.figures.cpuMsPerOp === undefined ? '—' : formatSpread(scenario.figures.cpuMsPerOp, 3),
    scenario.cpuPerGatewayRequest === undefined ? '—' : formatNumber(scenario.cpuPerGatewayRequest.median, 2),
    `${scenario.target.text}${targetMark(scenario.target.met)}`,
    scenario.comparisons
      .filter((comparison) => comparison.ratio !== undefined)
      .map((comparison) => describeComparison(scenario, comparison))
      .join(', ') || '—',
    formatShare(scenario.loadGeneratorShare.median),
  ]);
  const ceilingRows = report.ceilings.map((ceiling) => [
    ceiling.name,
    ceiling.error === undefined
      ? `${formatSpread(ceiling.value, digitsForUnit(ceiling.unit))} ${ceiling.unit}`
      : `not measured: ${ceiling.error}`,
    formatShare(ceiling.loadGeneratorShare?.median),
    ceiling.cpuMsPerRequest === undefined ? '—' : formatSpread(ceiling.cpuMsPerRequest, 3),
    formatLightLoad(ceiling),
  ]);
  const failures = [
    ...report.scenarios.flatMap((scenario) => [
      ...(scenario.error === undefined ? [] : [`${scenario.name}: ${scenario.error}`]),
      ...everyRun(scenario).flatMap((run) =>
        run.invariants
          .filter((invariant) => !invariant.ok)
          .map((invariant) => `${scenario.name} run ${run.run}: ${invariant.name}: ${invariant.detail}`),
      ),
    ]),
    ...report.reconciliation
      .filter((check) => !check.ok)
      .map((check) => `reconciliation: ${check.name}: ${check.detail}`),
  ];
  const machine = report.machine;
  const lines = [
    `Nuri Bank bench, ${report.startedAt} — ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, ` +
      `commit ${machine.commit.slice(0, 12)}${machine.dirty ? ' (+ uncommitted changes)' : ''}`,
    `load average before ${report.loadAverageBefore.join(' ')}, after ${report.loadAverageAfter.join(' ')}; ` +
      `services logging at ${report.options.logLevel}${writesAccessLog(report.options.logLevel) ? '' : ' (no access log)'}`,
    '',
    pad([
      [
        'scenario',
        'status',
        'median (min–max)',
        'p50 / p99 ms',
        'CPU ms/op (min–max)',
        'CPU ÷ jwks-gw',
        'target',
        'ratio of ceiling',
        'load gen CPU',
      ],
      ...scenarioRows,
    ]),
  ];
  if (ceilingRows.length > 0) {
    lines.push(
      '',
      pad([
        ['ceiling', 'median (min–max)', 'load gen CPU', 'CPU ms/req', 'p50 / p99 ms (CPU) at a set rate'],
        ...ceilingRows,
      ]),
    );
  }
  const added = gatewayAddedLatency(report.ceilings);
  if (added !== undefined) lines.push('', describeAddedLatency(added));
  const hop = gatewayHopCpu(report.ceilings);
  if (hop !== undefined) lines.push(describeGatewayHop(hop));
  const light = lightLoadCpu(report.ceilings);
  if (light !== undefined) lines.push(describeLightLoadCpu(light));
  if (report.reconciliation.length > 0) {
    const reconciled = report.reconciliation.every((check) => check.ok);
    lines.push('', `reconciliation after the load: ${reconciled ? 'OK' : 'MISMATCH'}`);
  }
  lines.push('', report.ok ? 'every invariant held' : `FAILED:\n  ${failures.join('\n  ')}`);
  return `${lines.join('\n')}\n`;
}

/** A scenario's runs with its warm-up (run 0) first, for what every run is held to. */
export function everyRun(scenario: Pick<ScenarioReport, 'runs' | 'warmUp'>): RunRecord[] {
  return scenario.warmUp === undefined ? scenario.runs : [scenario.warmUp, ...scenario.runs];
}

/**
 * One scenario's measured runs folded into medians and spreads, its ratios to
 * the ceilings, and its verdict (a broken invariant in any run, the warm-up
 * included, fails it).
 */
export function summarizeScenario(
  scenario: Pick<
    Scenario,
    'name' | 'title' | 'description' | 'unit' | 'higherIsBetter' | 'target' | 'comparisons'
  >,
  records: RunRecord[],
  ceilings: readonly CeilingReport[],
  error: string | undefined,
  warmUp?: RunRecord,
): ScenarioReport {
  const figure = spreadOf(records.map((record) => record.figure));
  const names = [...new Set(records.flatMap((record) => Object.keys(record.figures)))];
  const figures = Object.fromEntries(
    names.map((name) => [name, spreadOf(records.flatMap((record) => record.figures[name] ?? []))]),
  );
  const latency = {
    averageMs: spreadOf(records.map((record) => record.latency.averageMs)),
    p50Ms: spreadOf(records.map((record) => record.latency.p50Ms)),
    p90Ms: spreadOf(records.map((record) => record.latency.p90Ms)),
    p99Ms: spreadOf(records.map((record) => record.latency.p99Ms)),
  };
  const comparisons = scenario.comparisons.map(({ figure: which, ceiling: name }) => {
    const value = which === 'figure' ? figure.median : (figures[which]?.median ?? Number.NaN);
    const ceiling = ceilings.find((candidate) => candidate.name === name);
    const ceilingValue = ceiling?.error === undefined ? ceiling?.value.median : undefined;
    return {
      figure: which,
      value,
      ceiling: name,
      ceilingTitle: ceiling?.title ?? name,
      ceilingValue,
      // Always a share of the ceiling (1 = as good as it): a rate over its
      // ceiling, or a latency's floor over the latency.
      ratio: scenario.higherIsBetter ? ratio(value, ceilingValue) : ratio(ceilingValue, value),
    };
  });
  const gatewayRequest = ceilings.find((ceiling) => ceiling.name === 'jwks-gateway')?.cpuMsPerRequest?.median;
  // Each run's CPU per operation over the ceiling's median: the spread stays the runs' own.
  const relative = records.flatMap((record) => {
    const cpu = record.figures.cpuMsPerOp;
    const value = cpu === undefined ? undefined : ratio(cpu, gatewayRequest);
    return value === undefined || !Number.isFinite(value) ? [] : [value];
  });
  const broken = everyRun({ runs: records, warmUp }).some((record) =>
    record.invariants.some((check) => !check.ok),
  );
  const met =
    scenario.target.met === undefined || records.length === 0
      ? undefined
      : scenario.target.met({ figure, p99Ms: latency.p99Ms, named: figures });
  return {
    name: scenario.name,
    title: scenario.title,
    description: scenario.description,
    unit: scenario.unit,
    higherIsBetter: scenario.higherIsBetter,
    target: { text: scenario.target.text, met },
    status: error !== undefined || broken || records.length === 0 ? 'FAILED' : 'PASSED',
    ...(error === undefined ? {} : { error }),
    figure,
    figures,
    latency,
    loadGeneratorShare: spreadOf(records.map((record) => record.loadGeneratorShare)),
    comparisons,
    ...(relative.length === 0 ? {} : { cpuPerGatewayRequest: spreadOf(relative) }),
    runs: records,
    ...(warmUp === undefined ? {} : { warmUp }),
  };
}
