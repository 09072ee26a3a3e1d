// report.html: one self-contained file (inline CSS and SVG, no script, no
// CDN) that a browser opens from disk. Pure: the report in, the page out.
import {
  describeAddedLatency,
  describeComparison,
  describeGatewayHop,
  describeLightLoadCpu,
  everyRun,
  formatLightLoad,
  formatShare,
  formatSpread,
  gatewayAddedLatency,
  gatewayHopCpu,
  lightLoadCpu,
  type ScenarioReport,
  type SuiteReport,
} from './report.ts';
import { digitsForUnit, formatNumber } from './stats.ts';

const palette = [
  '#2563eb',
  '#f59e0b',
  '#dc2626',
  '#059669',
  '#7c3aed',
  '#db2777',
  '#0891b2',
  '#65a30d',
  '#9ca3af',
];
/** One colour per process group, the same in every report; what no group accounts for stays grey. */
const groupColors: Readonly<Record<string, string>> = {
  gateway: '#2563eb',
  'channel-user': '#0891b2',
  'core-user': '#7dd3fc',
  'core-payment': '#059669',
  point: '#65a30d',
  coupon: '#a16207',
  'load generator': '#dc2626',
  suite: '#f87171',
  postgresql: '#7c3aed',
  mariadb: '#db2777',
  redis: '#f59e0b',
  kafka: '#111827',
  other: '#d1d5db',
};

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function svg(width: number, height: number, body: string, label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(label)}">${body}</svg>`;
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${escapeHtml(content)}</text>`;
}

/** Colour keys in rows of `perRow`, `spacing` apart, the first baseline at (x, y). */
function legend(
  entries: Array<{ label: string; color: string }>,
  x: number,
  y: number,
  spacing = 110,
  perRow = entries.length,
): string {
  return entries
    .map((entry, index) => {
      const left = x + (index % perRow) * spacing;
      const baseline = y + Math.floor(index / perRow) * 16;
      return (
        `<rect x="${left}" y="${baseline - 9}" width="10" height="10" fill="${entry.color}"/>` +
        text(left + 14, baseline, entry.label, 'class="small"')
      );
    })
    .join('');
}

// --- latency percentiles: grouped bars on a log scale ---------------------------

export function latencyChart(scenarios: readonly ScenarioReport[]): string {
  const measured = scenarios.filter((scenario) => Number.isFinite(scenario.latency.p50Ms.median));
  if (measured.length === 0) return '<p>No latencies measured.</p>';
  const series = [
    { label: 'p50', color: palette[0]!, pick: (s: ScenarioReport) => s.latency.p50Ms.median },
    { label: 'p90', color: palette[1]!, pick: (s: ScenarioReport) => s.latency.p90Ms.median },
    { label: 'p99', color: palette[2]!, pick: (s: ScenarioReport) => s.latency.p99Ms.median },
  ];
  const left = 130;
  const plotWidth = 560;
  const rowHeight = 42;
  const top = 30;
  const height = top + measured.length * rowHeight + 40;
  const largest = Math.max(...measured.flatMap((scenario) => series.map((entry) => entry.pick(scenario))));
  const decades = Math.max(1, Math.ceil(Math.log10(Math.max(10, largest))) + 1);
  // log10 from 0.1 ms: sub-millisecond answers still get a visible bar.
  const x = (ms: number) => left + (Math.log10(Math.max(0.1, ms) * 10) / decades) * plotWidth;
  let body = legend(
    series.map((entry) => ({ label: `${entry.label} (median of runs)`, color: entry.color })),
    left,
    16,
  );
  for (let decade = 0; decade <= decades; decade += 1) {
    const ms = 10 ** (decade - 1);
    const at = x(ms);
    body += `<line x1="${at}" y1="${top}" x2="${at}" y2="${height - 30}" class="grid"/>`;
    body += text(
      at,
      height - 14,
      `${formatNumber(ms, ms < 1 ? 1 : 0)} ms`,
      'class="small" text-anchor="middle"',
    );
  }
  measured.forEach((scenario, row) => {
    const y = top + row * rowHeight;
    body += text(left - 8, y + rowHeight / 2 + 4, scenario.name, 'text-anchor="end"');
    series.forEach((entry, index) => {
      const value = entry.pick(scenario);
      const barY = y + 6 + index * 11;
      body += `<rect x="${left}" y="${barY}" width="${Math.max(1, x(value) - left).toFixed(1)}" height="9" fill="${entry.color}"><title>${escapeHtml(`${scenario.name} ${entry.label} ${formatNumber(value, 2)} ms`)}</title></rect>`;
      body += text(x(value) + 4, barY + 8, `${formatNumber(value, value < 10 ? 1 : 0)}`, 'class="tiny"');
    });
  });
  return svg(left + plotWidth + 60, height, body, 'latency percentiles per scenario');
}

// --- throughput over time: one small chart per scenario, a line per run --------

export function throughputChart(scenario: ScenarioReport): string {
  const runs = scenario.runs.filter((run) => run.samples.length > 0);
  if (runs.length === 0) return '';
  const width = 340;
  const height = 186;
  const left = 52;
  const bottom = height - 28;
  const top = 40;
  const right = width - 10;
  // The last second is partial; it would draw a false drop.
  const full = runs.map((run) => (run.samples.length > 1 ? run.samples.slice(0, -1) : run.samples));
  const seconds = Math.max(...full.map((samples) => samples.length));
  const peak = Math.max(1, ...full.flat());
  const x = (second: number) => left + (seconds <= 1 ? 0 : (second / (seconds - 1)) * (right - left));
  const y = (value: number) => bottom - (value / peak) * (bottom - top);
  let body = text(left, 14, `${scenario.name}: answers per second`, 'class="small"');
  for (const fraction of [0, 0.5, 1]) {
    const value = peak * fraction;
    body += `<line x1="${left}" y1="${y(value)}" x2="${right}" y2="${y(value)}" class="grid"/>`;
    body += text(left - 4, y(value) + 4, formatNumber(value), 'class="tiny" text-anchor="end"');
  }
  body += text(right, height - 8, `${seconds} s`, 'class="tiny" text-anchor="end"');
  body += text(left, height - 8, '0 s', 'class="tiny"');
  full.forEach((samples, index) => {
    const points = samples.map((value, second) => `${x(second).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
    body += `<polyline points="${points}" fill="none" stroke="${palette[index % palette.length]}" stroke-width="1.5"><title>run ${runs[index]!.run}</title></polyline>`;
  });
  body += legend(
    runs.map((run, index) => ({ label: `run ${run.run}`, color: palette[index % palette.length]! })),
    left,
    30,
    60,
  );
  return svg(width, height, body, `${scenario.name} throughput over time`);
}

// --- our figures as a share of the machine's ceilings --------------------------

export function ratioChart(scenarios: readonly ScenarioReport[]): string {
  const rows = scenarios.flatMap((scenario) =>
    scenario.comparisons
      .filter((comparison) => comparison.ratio !== undefined)
      .map((comparison) => ({
        label: scenario.higherIsBetter
          ? `${scenario.name} ${comparison.figure === 'figure' ? '' : comparison.figure} ÷ ${comparison.ceiling}`
          : `${comparison.ceiling} ÷ ${scenario.name} ${comparison.figure === 'figure' ? '' : comparison.figure}`,
        ratio: comparison.ratio!,
        detail: `${formatNumber(comparison.value)} of ${formatNumber(comparison.ceilingValue)} (${comparison.ceilingTitle})`,
      })),
  );
  if (rows.length === 0) return '<p>No ceilings measured in this run.</p>';
  const left = 330;
  const plotWidth = 360;
  const rowHeight = 22;
  const top = 10;
  const height = top + rows.length * rowHeight + 30;
  const scaleMax = Math.max(1, ...rows.map((row) => row.ratio));
  const x = (value: number) => left + (value / scaleMax) * plotWidth;
  let body = '';
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    body += `<line x1="${x(tick)}" y1="${top}" x2="${x(tick)}" y2="${height - 24}" class="${tick === 1 ? 'one' : 'grid'}"/>`;
    body += text(x(tick), height - 10, `${tick * 100} %`, 'class="tiny" text-anchor="middle"');
  }
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    body += text(left - 8, y + 14, row.label, 'class="small" text-anchor="end"');
    body += `<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(row.ratio) - left).toFixed(1)}" height="13" fill="${palette[0]}"><title>${escapeHtml(row.detail)}</title></rect>`;
    body += text(
      x(row.ratio) + 4,
      y + 15,
      `${(row.ratio * 100).toFixed(row.ratio < 0.1 ? 1 : 0)} %`,
      'class="tiny"',
    );
  });
  return svg(left + plotWidth + 70, height, body, 'figures as a ratio of their ceilings');
}

// --- where the CPU went: a stacked bar per scenario (its median run) ------------

export function cpuChart(scenarios: readonly ScenarioReport[]): string {
  const rows = scenarios
    .map((scenario) => ({ scenario, run: medianRun(scenario) }))
    .filter(
      (row): row is { scenario: ScenarioReport; run: NonNullable<ReturnType<typeof medianRun>> } =>
        row.run !== undefined,
    );
  if (rows.length === 0) return '';
  const groups = [...new Set(rows.flatMap((row) => Object.keys(row.run.cpu.groups)))];
  const color = (group: string) => groupColors[group] ?? palette[groups.indexOf(group) % palette.length]!;
  const left = 130;
  const plotWidth = 560;
  const rowHeight = 24;
  const legendRows = Math.ceil(groups.length / 6);
  const top = 10 + legendRows * 16;
  const height = top + rows.length * rowHeight + 30;
  const x = (share: number) => left + share * plotWidth;
  let body = legend(
    groups.map((group) => ({ label: group, color: color(group) })),
    left,
    14,
    95,
    6,
  );
  for (const tick of [0, 0.5, 1]) {
    body += `<line x1="${x(tick)}" y1="${top}" x2="${x(tick)}" y2="${height - 24}" class="grid"/>`;
    body += text(x(tick), height - 10, `${tick * 100} % of the machine`, 'class="tiny" text-anchor="middle"');
  }
  rows.forEach(({ scenario, run }, index) => {
    const y = top + index * rowHeight;
    body += text(left - 8, y + 15, scenario.name, 'class="small" text-anchor="end"');
    let offset = 0;
    for (const [group, share] of Object.entries(run.cpu.groups)) {
      if (share <= 0) continue;
      body += `<rect x="${x(offset).toFixed(1)}" y="${y + 4}" width="${(share * plotWidth).toFixed(1)}" height="15" fill="${color(group)}"><title>${escapeHtml(`${group} ${formatShare(share)}`)}</title></rect>`;
      offset += share;
    }
  });
  return svg(left + plotWidth + 40, height, body, 'CPU share per process group');
}

function medianRun(scenario: ScenarioReport) {
  if (scenario.runs.length === 0) return undefined;
  const sorted = [...scenario.runs].sort((a, b) => a.figure - b.figure);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

// --- the page -------------------------------------------------------------------

function cpuPerOperationTable(scenarios: readonly ScenarioReport[]): string {
  const rows = scenarios
    .map((scenario) => ({ scenario, run: medianRun(scenario) }))
    .filter((row) => row.run !== undefined && row.run.operations > 0);
  if (rows.length === 0) return '<p>No scenario completed a run.</p>';
  const groups = [...new Set(rows.flatMap((row) => Object.keys(row.run!.cpuMsPerOpByGroup)))].sort();
  const header = `<tr><th>scenario</th><th>operations</th><th>total</th>${groups.map((group) => `<th>${escapeHtml(group)}</th>`).join('')}</tr>`;
  const body = rows
    .map(({ scenario, run }) => {
      const cells = groups
        .map((group) => {
          const ms = run!.cpuMsPerOpByGroup[group];
          return `<td class="num">${ms === undefined ? '—' : formatNumber(ms, 3)}</td>`;
        })
        .join('');
      return `<tr><td>${escapeHtml(scenario.name)}</td><td class="num">${formatNumber(run!.operations)}</td><td class="num">${formatNumber(run!.figures.cpuMsPerOp ?? Number.NaN, 3)}</td>${cells}</tr>`;
    })
    .join('\n');
  return `<table>\n${header}\n${body}\n</table>`;
}

function summaryRows(report: SuiteReport): string {
  return report.scenarios
    .map((scenario) => {
      const digits = digitsForUnit(scenario.unit);
      const ratios = scenario.comparisons
        .filter((comparison) => comparison.ratio !== undefined)
        .map((comparison) => escapeHtml(describeComparison(scenario, comparison)))
        .join('<br>');
      const met = scenario.target.met === undefined ? '' : scenario.target.met ? ' ✓' : ' ✗';
      return `<tr class="${scenario.status === 'FAILED' ? 'failed' : ''}">
  <td><a href="#${escapeHtml(scenario.name)}">${escapeHtml(scenario.name)}</a></td>
  <td>${scenario.status}</td>
  <td class="num">${escapeHtml(formatSpread(scenario.figure, digits))} ${escapeHtml(scenario.unit)}</td>
  <td class="num">${formatNumber(scenario.latency.p50Ms.median, 1)} / ${formatNumber(scenario.latency.p90Ms.median, 1)} / ${formatNumber(scenario.latency.p99Ms.median, 1)}</td>
  <td class="num">${scenario.figures.cpuMsPerOp === undefined ? '—' : escapeHtml(formatSpread(scenario.figures.cpuMsPerOp, 3))}</td>
  <td class="num">${scenario.cpuPerGatewayRequest === undefined ? '—' : escapeHtml(formatSpread(scenario.cpuPerGatewayRequest, 2))}</td>
  <td>${escapeHtml(scenario.target.text)}${met}</td>
  <td>${ratios || '—'}</td>
  <td class="num">${formatShare(scenario.loadGeneratorShare.median)}</td>
</tr>`;
    })
    .join('\n');
}

function scenarioSection(scenario: ScenarioReport): string {
  const figureNames = Object.keys(scenario.figures);
  const runRows = everyRun(scenario)
    .map(
      (run) => `<tr>
  <td>${run.run === 0 ? '0 (warm-up, not counted)' : run.run}</td>
  <td class="num">${formatNumber(run.figure, digitsForUnit(scenario.unit))}</td>
  <td class="num">${formatNumber(run.latency.p50Ms, 1)} / ${formatNumber(run.latency.p90Ms, 1)} / ${formatNumber(run.latency.p99Ms, 1)} / ${formatNumber(run.latency.maxMs, 0)}</td>
  ${figureNames.map((name) => `<td class="num">${formatNumber(run.figures[name], 2)}</td>`).join('')}
  <td>${escapeHtml(
    Object.entries(run.statuses)
      .map(([status, n]) => `${status}×${n}`)
      .join(' '),
  )}</td>
  <td class="num">${formatShare(run.loadGeneratorShare)} / ${formatShare(run.cpu.machineBusy)}</td>
</tr>`,
    )
    .join('\n');
  const invariants = everyRun(scenario)
    .flatMap((run) =>
      run.invariants.map(
        (check) =>
          `<li class="${check.ok ? 'ok' : 'bad'}">run ${run.run}: ${check.ok ? 'held' : 'BROKEN'} — ${escapeHtml(check.name)}: ${escapeHtml(check.detail)}</li>`,
      ),
    )
    .join('\n');
  return `<section id="${escapeHtml(scenario.name)}">
<h3>${escapeHtml(scenario.name)} — ${escapeHtml(scenario.title)} <span class="${scenario.status === 'FAILED' ? 'bad' : 'ok'}">${scenario.status}</span></h3>
<p>${escapeHtml(scenario.description)}</p>
${scenario.error === undefined ? '' : `<p class="bad">Error: ${escapeHtml(scenario.error)}</p>`}
<table>
<tr><th>run</th><th>${escapeHtml(scenario.unit)}</th><th>p50 / p90 / p99 / max ms</th>${figureNames.map((name) => `<th>${escapeHtml(name)}</th>`).join('')}<th>answers</th><th>load gen / machine CPU</th></tr>
${runRows}
</table>
<ul class="invariants">${invariants}</ul>
${throughputChart(scenario)}
</section>`;
}

export function renderHtml(report: SuiteReport): string {
  const machine = report.machine;
  const addedLatency = gatewayAddedLatency(report.ceilings);
  const hop = gatewayHopCpu(report.ceilings);
  const light = lightLoadCpu(report.ceilings);
  const ceilingRows = report.ceilings
    .map(
      (ceiling) => `<tr>
  <td>${escapeHtml(ceiling.name)}</td>
  <td class="num">${ceiling.error === undefined ? `${escapeHtml(formatSpread(ceiling.value, digitsForUnit(ceiling.unit)))} ${escapeHtml(ceiling.unit)}` : `not measured: ${escapeHtml(ceiling.error)}`}</td>
  <td class="num">${formatShare(ceiling.loadGeneratorShare?.median)}</td>
  <td class="num">${ceiling.cpuMsPerRequest === undefined ? '—' : escapeHtml(formatSpread(ceiling.cpuMsPerRequest, 3))}</td>
  <td class="num">${escapeHtml(formatLightLoad(ceiling))}</td>
  <td>${escapeHtml(ceiling.how)}</td>
</tr>`,
    )
    .join('\n');
  const reconciliation = report.reconciliation
    .map(
      (check) =>
        `<li class="${check.ok ? 'ok' : 'bad'}">${check.ok ? 'OK' : 'MISMATCH'} — ${escapeHtml(check.name)}: ${escapeHtml(check.detail)}</li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Nuri Bank bench ${escapeHtml(report.startedAt)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #111827; padding: 0 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.failed td { background: #fef2f2; }
.ok { color: #047857; } .bad { color: #b91c1c; font-weight: 600; }
svg { display: block; margin: 8px 0 20px; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #111827; }
svg .small { font-size: 11px; } svg .tiny { font-size: 10px; fill: #4b5563; }
svg .grid { stroke: #e5e7eb; } svg .one { stroke: #111827; stroke-dasharray: 4 3; }
ul.invariants { margin: 4px 0 8px; }
section { border-top: 1px solid #e5e7eb; margin-top: 16px; }
</style>
</head>
<body>
<h1>Nuri Bank bench <span class="${report.ok ? 'ok' : 'bad'}">${report.ok ? 'PASSED' : 'FAILED'}</span></h1>
<p>${escapeHtml(report.startedAt)} → ${escapeHtml(report.finishedAt)} · <code>${escapeHtml(report.command)}</code></p>
<p>${escapeHtml(machine.cpuModel)}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${escapeHtml(machine.kernel)}, Node ${escapeHtml(machine.node)} ·
commit <code>${escapeHtml(machine.commit)}</code>${machine.dirty ? ' with uncommitted changes' : ''} · load average before ${report.loadAverageBefore.join(' ')}, after ${report.loadAverageAfter.join(' ')} · services logging at ${escapeHtml(report.options.logLevel)}</p>
<p>Load generator: ${escapeHtml(report.loadGenerator.tool)}. ${escapeHtml(report.loadGenerator.why)}</p>
<h2>Summary</h2>
<table>
<tr><th>scenario</th><th>status</th><th>median (min–max)</th><th>p50 / p90 / p99 ms</th><th>CPU ms per operation</th><th>CPU ÷ a jwks-gateway request</th><th>target</th><th>ratio of ceiling</th><th>load gen CPU</th></tr>
${summaryRows(report)}
</table>
<h2>Latency percentiles</h2>
${latencyChart(report.scenarios)}
<h2>Our figures as a share of the machine's ceilings</h2>
${ratioChart(report.scenarios)}
<h2>Where the CPU went (median run of each scenario)</h2>
<p>Shares of the whole machine (all cores) during the load. PostgreSQL, MariaDB, Redis and Kafka are shared with anything else running on the host; "other" is busy time no listed process accounts for.</p>
${cpuChart(report.scenarios)}
<h2>CPU milliseconds per operation, by process group (median run of each scenario)</h2>
<p>Every process group of the system (each service, PostgreSQL, MariaDB, Redis, Kafka) from the start of the load until its operations were complete — for deposits, payments and coupons until settled or recorded — over the operations; the load generator, the suite and unaccounted CPU are left out.</p>
${cpuPerOperationTable(report.scenarios)}
<h2>Ceilings</h2>
<table>
<tr><th>ceiling</th><th>median (min–max)</th><th>load gen CPU</th><th>CPU ms per request</th><th>p50 / p99 ms (CPU per request) at a set rate</th><th>how</th></tr>
${ceilingRows}
</table>
${addedLatency === undefined ? '' : `<p>${escapeHtml(describeAddedLatency(addedLatency))}</p>`}
${hop === undefined ? '' : `<p>${escapeHtml(describeGatewayHop(hop))}</p>`}
${light === undefined ? '' : `<p>${escapeHtml(describeLightLoadCpu(light))}</p>`}
<h2>Reconciliation after the load</h2>
<ul class="invariants">${reconciliation || '<li>not run</li>'}</ul>
${report.profiles.length === 0 ? '' : `<h2>CPU profiles</h2>\n<p>Open in Chrome DevTools (Performance → Load profile) or speedscope.</p>\n<ul>${report.profiles.map((file) => `<li><a href="${escapeHtml(file)}">${escapeHtml(file)}</a></li>`).join('')}</ul>`}
<h2>Seeding</h2>
<ul>${report.seeding.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>
<h2>Scenarios</h2>
${report.scenarios.map(scenarioSection).join('\n')}
</body>
</html>
`;
}
