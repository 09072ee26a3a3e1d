import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CpuBreakdown, cpuMsPerOperation } from '../suite/machine.ts';
import { parseSuiteOptions } from '../suite/options.ts';
import {
  type CeilingReport,
  describeComparison,
  formatLightLoad,
  gatewayAddedLatency,
  gatewayHopCpu,
  lightLoadCpu,
  type RunRecord,
  renderSummaryTable,
  type SuiteReport,
  summarizeScenario,
} from '../suite/report.ts';
import { escapeHtml, renderHtml } from '../suite/report-html.ts';
import { spreadOf } from '../suite/stats.ts';

const cpu: CpuBreakdown = {
  windowS: 10,
  machineBusy: 0.9,
  groups: { gateway: 0.3, postgresql: 0.2, 'load generator': 0.05, suite: 0.02, other: 0.1 },
};

function runRecord(run: number, figure: number, ok = true): RunRecord {
  return {
    run,
    figure,
    figures: { drainMs: 100 * run, cpuMsPerOp: 0.4 + run / 10 },
    operations: 10_000,
    cpuMsPerOpByGroup: { gateway: 0.6, postgresql: 0.4 },
    latency: { count: 1_000, averageMs: 4, p50Ms: 3, p90Ms: 8, p99Ms: 20 + run, maxMs: 90 },
    statuses: { '200': 1_000 },
    inDoubt: 0,
    samples: [900, 1_000, 1_100, 400],
    durationS: 3.4,
    loadGeneratorShare: 0.05,
    cpu,
    invariants: [{ name: 'balance = start − Σ successful', ok, detail: ok ? 'held' : '3 accounts differ' }],
  };
}

const ceilings: CeilingReport[] = [
  {
    name: 'jwks-gateway',
    title: 'Bare route via the gateway',
    unit: 'req/s',
    how: 'GET',
    value: spreadOf([4_000, 5_000, 6_000]),
    cpuMsPerRequest: spreadOf([0.2, 0.25, 0.3]),
  },
  {
    name: 'pgbench-n',
    title: 'pgbench',
    unit: 'tps',
    how: 'pgbench -N',
    value: spreadOf([]),
    error: 'pgbench: not found',
  },
];

const withdrawDefinition = {
  name: 'withdraw' as const,
  title: 'Withdrawals <many> & "accounts"',
  description: 'a description with <script>alert(1)</script> in it',
  unit: 'withdrawals/s',
  higherIsBetter: true,
  target: {
    text: '≥ 3,000/s, p99 ≤ 30 ms',
    met: ({ figure, p99Ms }: { figure: { median: number }; p99Ms: { median: number } }) =>
      figure.median >= 3_000 && p99Ms.median <= 30,
  },
  comparisons: [
    { figure: 'figure', ceiling: 'jwks-gateway' as const },
    { figure: 'figure', ceiling: 'pgbench-n' as const },
  ],
};

function suiteReport(scenarios: SuiteReport['scenarios']): SuiteReport {
  return {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:10:00.000Z',
    command: 'npm run bench --',
    options: parseSuiteOptions([], '/tmp'),
    machine: {
      cpuModel: 'AMD EPYC',
      cores: 2,
      memoryGb: 4,
      kernel: '6.1',
      node: 'v24.0.0',
      commit: '0123456789abcdef',
      dirty: false,
      hostname: 'bench',
    },
    loadAverageBefore: [1, 2, 3],
    loadAverageAfter: [2, 2, 3],
    loadGenerator: { tool: 'autocannon', why: 'because' },
    seeding: ['20 customers'],
    ceilings,
    scenarios,
    reconciliation: [{ name: 'balance = ledger sum, every account', ok: true, detail: '0 mismatches' }],
    profiles: ['profiles/gateway.123.cpuprofile'],
    ok: scenarios.every((scenario) => scenario.status === 'PASSED'),
  };
}

describe('a scenario summarized over its runs', () => {
  test('when every invariant held, then it passed, with the median run and the spread', () => {
    const summary = summarizeScenario(
      withdrawDefinition,
      [runRecord(1, 3_100), runRecord(2, 2_900), runRecord(3, 3_500)],
      ceilings,
      undefined,
    );
    assert.equal(summary.status, 'PASSED');
    assert.deepEqual(summary.figure, {
      median: 3_100,
      min: 2_900,
      max: 3_500,
      values: [3_100, 2_900, 3_500],
    });
    assert.equal(summary.latency.p99Ms.median, 22);
    assert.equal(summary.figures.drainMs!.median, 200);
    assert.equal(summary.target.met, true);
  });

  test('when a ceiling was measured, then the ratio is our median over its median; when not, there is none', () => {
    const summary = summarizeScenario(withdrawDefinition, [runRecord(1, 2_500)], ceilings, undefined);
    const [gateway, pgbench] = summary.comparisons;
    assert.equal(gateway!.ratio, 0.5);
    assert.equal(gateway!.ceilingValue, 5_000);
    assert.equal(pgbench!.ratio, undefined);
    assert.equal(summary.target.met, false);
  });

  test('when a latency is compared with its floor, then the ratio is the floor over our median (1 = as fast as the floor)', () => {
    const steady = {
      ...withdrawDefinition,
      name: 'coupon-steady' as const,
      unit: 'avg ms',
      higherIsBetter: false,
      comparisons: [{ figure: 'figure', ceiling: 'coupon-hand-off' as const }],
    };
    const handOff: CeilingReport = {
      name: 'coupon-hand-off',
      title: "Coupon's hand-off to Kafka",
      unit: 'avg ms',
      how: 'open loop',
      value: spreadOf([1.5, 2, 2.5]),
      lightLoad: { ratePerSecond: 1_000, p50Ms: spreadOf([1.8]), p99Ms: spreadOf([6]) },
    };
    // runRecord's figure is the average latency here: 8 ms against a floor of 2 ms.
    const summary = summarizeScenario(steady, [runRecord(1, 8)], [...ceilings, handOff], undefined);
    assert.equal(summary.comparisons[0]!.ratio, 0.25);
    assert.equal(describeComparison(summary, summary.comparisons[0]!), 'coupon-hand-off 25 % of it');
    assert.equal(
      describeComparison({ higherIsBetter: true }, { ratio: 0.5, ceiling: 'jwks-gateway' }),
      '50 % of jwks-gateway',
    );
    assert.equal(formatLightLoad(handOff), '1.80 / 6.00 at 1,000/s');
  });

  test("when the gateway ceiling measured its CPU per request, then each run's CPU per operation is read in those requests", () => {
    // runRecord's CPU per operation is 0.4 + run/10: 0.5, 0.6, 0.7 ms over the ceiling's median 0.25 ms.
    const summary = summarizeScenario(
      withdrawDefinition,
      [runRecord(1, 3_100), runRecord(2, 2_900), runRecord(3, 3_500)],
      ceilings,
      undefined,
    );
    const relative = summary.cpuPerGatewayRequest!;
    assert.deepEqual(
      relative.values.map((value) => Number(value.toFixed(6))),
      [2, 2.4, 2.8],
    );
    assert.equal(Number(relative.median.toFixed(6)), 2.4);
    const withoutCeiling = summarizeScenario(withdrawDefinition, [runRecord(1, 3_100)], [], undefined);
    assert.equal(withoutCeiling.cpuPerGatewayRequest, undefined);
    assert.match(renderSummaryTable(suiteReport([summary])), /CPU ÷ jwks-gw[\s\S]*2\.40/);
  });

  test('when one run broke an invariant, then the scenario FAILED however fast it was', () => {
    const summary = summarizeScenario(
      withdrawDefinition,
      [runRecord(1, 9_000), runRecord(2, 9_000, false)],
      ceilings,
      undefined,
    );
    assert.equal(summary.status, 'FAILED');
  });

  test('when a warm-up ran, then it is left out of every figure but its invariants count and it is reported', () => {
    const counted = [runRecord(1, 3_100), runRecord(2, 2_900), runRecord(3, 3_500)];
    const summary = summarizeScenario(withdrawDefinition, counted, ceilings, undefined, runRecord(0, 100));
    assert.equal(summary.status, 'PASSED');
    assert.deepEqual(summary.figure.values, [3_100, 2_900, 3_500]);
    assert.equal(summary.latency.p99Ms.min, 21);
    assert.equal(summary.warmUp?.figure, 100);
    assert.match(renderHtml(suiteReport([summary])), /<td>0 \(warm-up, not counted\)<\/td>/);

    const broken = summarizeScenario(
      withdrawDefinition,
      counted,
      ceilings,
      undefined,
      runRecord(0, 100, false),
    );
    assert.equal(broken.status, 'FAILED');
    assert.match(
      renderSummaryTable(suiteReport([broken])),
      /withdraw run 0: balance = start − Σ successful: 3 accounts differ/,
    );
  });

  test('when the scenario threw, or ran no run, then it FAILED and says why', () => {
    const thrown = summarizeScenario(withdrawDefinition, [], ceilings, 'signup answered 503');
    assert.equal(thrown.status, 'FAILED');
    assert.equal(thrown.error, 'signup answered 503');
    assert.equal(thrown.target.met, undefined);
  });
});

/** Every element closed in order (void and self-closed ones aside): what a browser or an SVG viewer needs. */
function assertBalancedMarkup(html: string): void {
  const voidElements = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
  const stack: string[] = [];
  for (const match of html.replace(/<!doctype[^>]*>/i, '').matchAll(/<(\/?)([a-zA-Z][\w-]*)([^>]*)>/g)) {
    const [, closing, name, rest] = match;
    if (closing === '/') {
      assert.equal(stack.pop(), name, `</${name}> closes <${stack.at(-1)}>`);
    } else if (!voidElements.has(name!.toLowerCase()) && !rest!.trimEnd().endsWith('/')) {
      stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

describe('the reports', () => {
  const passed = summarizeScenario(
    withdrawDefinition,
    [runRecord(1, 3_100), runRecord(2, 2_900)],
    ceilings,
    undefined,
  );
  const failed = summarizeScenario(
    { ...withdrawDefinition, name: 'deposit' },
    [runRecord(1, 500, false)],
    ceilings,
    undefined,
  );
  const threw = summarizeScenario({ ...withdrawDefinition, name: 'login' }, [], ceilings, 'boom');
  const report = suiteReport([passed, failed, threw]);

  test('when rendered as HTML, then it is one balanced document with a section and a chart per scenario', () => {
    const html = renderHtml(report);
    assertBalancedMarkup(html);
    for (const name of ['withdraw', 'deposit', 'login'])
      assert.match(html, new RegExp(`<section id="${name}">`));
    assert.equal(html.match(/<svg /g)?.length, html.match(/<\/svg>/g)?.length);
    // latency, ratio, CPU, and a throughput chart for each scenario that ran.
    assert.ok((html.match(/<svg /g)?.length ?? 0) >= 5);
    assert.match(html, /<title>Nuri Bank bench/);
  });

  test('when rendered as HTML, then it needs nothing from outside the file', () => {
    const html = renderHtml(report);
    assert.doesNotMatch(html, /<script|<link|src=|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  test('when a text holds markup, then the page shows it as text', () => {
    const html = renderHtml(report);
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('when a figure is missing, then no NaN or undefined reaches the page or the table', () => {
    const html = renderHtml(report);
    const table = renderSummaryTable(report);
    for (const output of [html, table]) {
      assert.doesNotMatch(output, /NaN|undefined|Infinity/);
    }
  });

  test('when printed as text, then each scenario and ceiling has a line and every broken invariant is named', () => {
    const table = renderSummaryTable(report);
    assert.match(table, /^withdraw\s+PASSED\s+3,000 \(2,900–3,100\) withdrawals\/s/m);
    assert.match(table, /^deposit\s+FAILED/m);
    assert.match(table, /^login\s+FAILED/m);
    assert.match(table, /^jwks-gateway\s+5,000 \(4,000–6,000\) req\/s/m);
    assert.match(table, /^pgbench-n\s+not measured: pgbench: not found/m);
    assert.match(table, /deposit run 1: balance = start − Σ successful: 3 accounts differ/);
    assert.match(table, /login: boom/);
    assert.match(table, /60 % of jwks-gateway/);
    assert.match(table, /CPU ms\/op/);
    assert.match(table, /^withdraw\s+PASSED.*0\.550 \(0\.500–0\.600\)/m);
  });
});

describe('CPU per operation', () => {
  test('when divided, then only the system counts: not the load generator, the suite or the unaccounted rest', () => {
    // 10 s × 2 cores = 20,000 ms of capacity; gateway 30 % = 6,000 ms, PostgreSQL 20 % = 4,000 ms, over 5,000 operations.
    const perOperation = cpuMsPerOperation(cpu, 2, 5_000);
    assert.deepEqual(perOperation.byGroup, { gateway: 1.2, postgresql: 0.8 });
    assert.ok(Math.abs(perOperation.total - 2) < 1e-9);
  });

  test('when a scenario names the groups it measures, then only they count', () => {
    const perOperation = cpuMsPerOperation(cpu, 2, 5_000, ['postgresql', 'kafka']);
    assert.deepEqual(perOperation.byGroup, { postgresql: 0.8 });
    assert.ok(Math.abs(perOperation.total - 0.8) < 1e-9);
  });

  test('when nothing was done, then the cost per operation is infinite, never a division by zero passed off as 0', () => {
    assert.equal(cpuMsPerOperation(cpu, 2, 0).total, Number.POSITIVE_INFINITY);
  });
});

describe("the gateway's added latency", () => {
  const lightLoad = (p50: number[], p99: number[], ratePerSecond = 500) => ({
    ratePerSecond,
    p50Ms: spreadOf(p50),
    p99Ms: spreadOf(p99),
  });
  const route = (name: string, light: CeilingReport['lightLoad']): CeilingReport => ({
    name,
    title: name,
    unit: 'req/s',
    how: 'GET',
    value: spreadOf([10_000]),
    ...(light === undefined ? {} : { lightLoad: light }),
  });

  test('when both routes were measured at the light rate, then it is through-gateway minus direct, median for median', () => {
    const added = gatewayAddedLatency([
      route('jwks-direct', lightLoad([0.9, 1.1, 1.0], [3.0, 2.0, 4.0])),
      route('jwks-gateway', lightLoad([2.5, 2.0, 3.0], [9.0, 7.0, 8.0])),
    ]);
    assert.ok(added !== undefined);
    assert.equal(added.ratePerSecond, 500);
    assert.ok(Math.abs(added.p50Ms - 1.5) < 1e-9);
    assert.ok(Math.abs(added.p99Ms - 5.0) < 1e-9);
    const table = renderSummaryTable({
      ...suiteReport([]),
      ceilings: [
        route('jwks-direct', lightLoad([1.0], [3.0])),
        route('jwks-gateway', lightLoad([2.5], [8.0])),
      ],
    });
    assert.match(table, /^jwks-gateway\s+10,000 req\/s.*2\.50 \/ 8\.00 at 500\/s/m);
    assert.match(
      table,
      /the gateway adds p50 \+1\.50 ms, p99 \+5\.00 ms over a direct call \(jwks at 500 req\/s offered\)/,
    );
  });

  test('when either side lacks the light-load figure or the rates differ, then nothing is claimed', () => {
    const direct = route('jwks-direct', lightLoad([1.0], [3.0]));
    assert.equal(gatewayAddedLatency([direct, route('jwks-gateway', undefined)]), undefined);
    assert.equal(gatewayAddedLatency([direct]), undefined);
    assert.equal(
      gatewayAddedLatency([direct, route('jwks-gateway', lightLoad([2.0], [6.0], 1_000))]),
      undefined,
    );
    assert.doesNotMatch(renderSummaryTable({ ...suiteReport([]), ceilings: [direct] }), /gateway adds/);
  });
});

describe('the gateway hop beside a bare proxy hop', () => {
  const ceiling = (
    name: string,
    cpu: { all?: number[]; gateway?: number[] },
    error?: string,
  ): CeilingReport => ({
    name,
    title: name,
    unit: 'req/s',
    how: 'GET',
    value: spreadOf([10_000]),
    ...(cpu.all === undefined ? {} : { cpuMsPerRequest: spreadOf(cpu.all) }),
    ...(cpu.gateway === undefined ? {} : { gatewayCpuMsPerRequest: spreadOf(cpu.gateway) }),
    ...(error === undefined ? {} : { error }),
  });

  test("when both were measured, then the gateway's own CPU per request is set beside the bare proxy's, median for median", () => {
    const ceilings = [
      ceiling('bare-proxy', { all: [0.08, 0.07, 0.09] }),
      ceiling('jwks-direct', { all: [0.05, 0.06, 0.04] }),
      ceiling('jwks-gateway', { all: [0.2, 0.19, 0.21], gateway: [0.13, 0.12, 0.14] }),
    ];
    const hop = gatewayHopCpu(ceilings);
    assert.ok(hop !== undefined);
    assert.ok(Math.abs(hop.gatewayMs - 0.13) < 1e-9);
    assert.ok(Math.abs(hop.bareMs - 0.08) < 1e-9);
    const table = renderSummaryTable({ ...suiteReport([]), ceilings });
    assert.match(
      table,
      /a hop costs 0\.130 ms of CPU per request in the gateway \(its process, jwks-gateway\), 0\.080 in a bare proxy \(bare-proxy\): 1\.63 ×/,
    );
    assert.match(renderHtml({ ...suiteReport([]), ceilings }), /a hop costs 0\.130 ms of CPU per request/);
  });

  test('when either is missing, failed, or has no CPU figure of its own, then nothing is claimed', () => {
    const gateway = ceiling('jwks-gateway', { all: [0.2], gateway: [0.13] });
    const bare = ceiling('bare-proxy', { all: [0.08] });
    assert.equal(gatewayHopCpu([gateway]), undefined);
    assert.equal(gatewayHopCpu([bare]), undefined);
    assert.equal(gatewayHopCpu([gateway, ceiling('bare-proxy', {})]), undefined);
    assert.equal(
      gatewayHopCpu([gateway, ceiling('bare-proxy', { all: [0.08] }, 'bare proxy exited with 1')]),
      undefined,
    );
    assert.equal(gatewayHopCpu([ceiling('jwks-gateway', { all: [0.2] }), bare]), undefined);
    assert.equal(gatewayHopCpu([ceiling('jwks-gateway', { all: [0.2], gateway: [0] }), bare]), undefined);
    assert.doesNotMatch(renderSummaryTable({ ...suiteReport([]), ceilings: [gateway] }), /a hop costs/);
  });
});

describe('what a request costs when requests come one at a time', () => {
  const gateway = (light?: { cpu?: number[]; idle?: number[] }, saturated: number[] = [0.07, 0.06, 0.08]) =>
    ({
      name: 'jwks-gateway',
      title: 'jwks through the gateway',
      unit: 'req/s',
      how: 'GET',
      value: spreadOf([17_000]),
      cpuMsPerRequest: spreadOf(saturated),
      ...(light === undefined
        ? {}
        : {
            lightLoad: {
              ratePerSecond: 500,
              p50Ms: spreadOf([0.9]),
              p99Ms: spreadOf([3.5]),
              ...(light.cpu === undefined ? {} : { cpuMsPerRequest: spreadOf(light.cpu) }),
              ...(light.idle === undefined ? {} : { idleCpuMsPerSecond: spreadOf(light.idle) }),
            },
          }),
    }) satisfies CeilingReport;

  test('when jwks-gateway measured its CPU at the light rate, then it is set beside saturation, with the idle system per request', () => {
    const ceilings = [gateway({ cpu: [0.35, 0.4, 0.3], idle: [60, 50, 70] })];
    assert.deepEqual(lightLoadCpu(ceilings), {
      ratePerSecond: 500,
      lightMs: 0.35,
      saturatedMs: 0.07,
      idleMsPerSecond: 60,
    });
    const line =
      'at 500 req/s offered a jwks-gateway request costs 0.350 ms of CPU across the system, 0.070 at saturation: 5.0 ×; ' +
      'the idle system alone spends 60 ms of CPU a second, 0.120 per request at that rate';
    assert.ok(renderSummaryTable({ ...suiteReport([]), ceilings }).includes(line));
    assert.ok(renderHtml({ ...suiteReport([]), ceilings }).includes(escapeHtml(line)));
    assert.equal(formatLightLoad(ceilings[0]!), '0.90 / 3.50 at 500/s, 0.350 ms CPU/req');
  });

  test('when the idle system was not watched, then the line says only the ratio', () => {
    const cpu = lightLoadCpu([gateway({ cpu: [0.3] })]);
    assert.equal(cpu?.idleMsPerSecond, undefined);
    const table = renderSummaryTable({ ...suiteReport([]), ceilings: [gateway({ cpu: [0.3] })] });
    assert.match(table, /costs 0\.300 ms of CPU across the system, 0\.070 at saturation: 4\.3 ×$/m);
    assert.doesNotMatch(table, /idle/);
  });

  test('when either figure is missing or the ceiling failed, then nothing is claimed', () => {
    assert.equal(lightLoadCpu([]), undefined);
    assert.equal(lightLoadCpu([gateway()]), undefined);
    assert.equal(lightLoadCpu([gateway({ idle: [60] })]), undefined);
    assert.equal(lightLoadCpu([gateway({ cpu: [0.3] }, [0])]), undefined);
    assert.equal(lightLoadCpu([{ ...gateway({ cpu: [0.3] }), error: 'gateway exited' }]), undefined);
    assert.doesNotMatch(renderSummaryTable({ ...suiteReport([]), ceilings: [gateway()] }), /at saturation/);
  });
});

describe('the level the services logged at', () => {
  test('when a run is summed up, then its header says the level, and whether it means no access log', () => {
    assert.match(renderSummaryTable(suiteReport([])), /; services logging at warn \(no access log\)\n/);
    const atInfo = { ...suiteReport([]), options: parseSuiteOptions(['--log-level', 'info'], '/tmp') };
    assert.match(renderSummaryTable(atInfo), /; services logging at info\n/);
    assert.match(renderHtml(atInfo), /services logging at info<\/p>/);
    const silent = { ...suiteReport([]), options: parseSuiteOptions(['--log-level', 'silent'], '/tmp') };
    assert.match(renderSummaryTable(silent), /; services logging at silent \(no access log\)\n/);
    const debug = { ...suiteReport([]), options: parseSuiteOptions(['--log-level', 'debug'], '/tmp') };
    assert.match(renderSummaryTable(debug), /; services logging at debug\n/);
  });
});
