// report.html: one self-contained page (inline CSS and SVG, no script, no
// CDN) that a browser opens from disk: the fault timeline drawn over the
// answers per second by class and the channel's availability, then each
// invariant with what it found, the faults, the operations, the machine.
import type { ChaosReport, Second } from './report.ts';
import type { FaultKind } from './schedule.ts';

const kindColors: Readonly<Record<FaultKind, string>> = {
  kill: '#dc2626',
  pause: '#f59e0b',
  broker: '#111827',
  redis: '#db2777',
  pg: '#7c3aed',
  mariadb: '#a16207',
  partition: '#0891b2',
  latency: '#65a30d',
};
const classColors = { ok: '#059669', clientError: '#2563eb', serverError: '#dc2626', noAnswer: '#6b7280' };

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  seconds: number;
  yMax: number;
}

const xOf = (frame: Frame, s: number) =>
  frame.left + (s / Math.max(1, frame.seconds)) * (frame.width - frame.left - frame.right);
const yOf = (frame: Frame, value: number) =>
  frame.height -
  frame.bottom -
  (value / Math.max(1e-9, frame.yMax)) * (frame.height - frame.top - frame.bottom);

function faultBands(report: ChaosReport, frame: Frame, labels: boolean): string {
  const start = Date.parse(report.times.loadStarted);
  return report.faults
    .map((fault) => {
      const from = (fault.startedAt - start) / 1_000;
      const healed = ((fault.healedAt ?? fault.startedAt) - start) / 1_000;
      const back = ((fault.backAt ?? fault.healedAt ?? fault.startedAt) - start) / 1_000;
      const color = kindColors[fault.kind];
      const x1 = xOf(frame, from);
      const x2 = Math.max(x1 + 2, xOf(frame, healed));
      const x3 = Math.max(x2, xOf(frame, back));
      const h = frame.height - frame.top - frame.bottom;
      const label = labels
        ? `<text x="${(x1 + 2).toFixed(1)}" y="${frame.top + 10 + (fault.id % 3) * 11}" font-size="10" fill="${color}">#${fault.id} ${escapeHtml(fault.kind)}${fault.target ? ` ${escapeHtml(fault.target)}` : ''}</text>`
        : '';
      return (
        `<rect x="${x1.toFixed(1)}" y="${frame.top}" width="${(x2 - x1).toFixed(1)}" height="${h}" fill="${color}" opacity="0.18"><title>#${fault.id} ${escapeHtml(fault.kind)} ${escapeHtml(fault.detail)}</title></rect>` +
        `<rect x="${x2.toFixed(1)}" y="${frame.top}" width="${(x3 - x2).toFixed(1)}" height="${h}" fill="${color}" opacity="0.07"/>` +
        label
      );
    })
    .join('');
}

function axes(frame: Frame, yLabel: string, format: (value: number) => string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((share) => share * frame.yMax);
  const yTicks = ticks
    .map(
      (value) =>
        `<line x1="${frame.left}" x2="${frame.width - frame.right}" y1="${yOf(frame, value).toFixed(1)}" y2="${yOf(frame, value).toFixed(1)}" stroke="#e5e7eb"/>` +
        `<text x="${frame.left - 4}" y="${(yOf(frame, value) + 3).toFixed(1)}" font-size="10" text-anchor="end">${format(value)}</text>`,
    )
    .join('');
  const step = frame.seconds > 300 ? 60 : frame.seconds > 120 ? 30 : 10;
  const xTicks: string[] = [];
  for (let s = 0; s <= frame.seconds; s += step) {
    xTicks.push(
      `<text x="${xOf(frame, s).toFixed(1)}" y="${frame.height - frame.bottom + 14}" font-size="10" text-anchor="middle">${s}s</text>`,
    );
  }
  return (
    yTicks +
    xTicks.join('') +
    `<text x="12" y="${frame.top + 10}" font-size="10" transform="rotate(-90 12 ${frame.top + 10})" text-anchor="end">${escapeHtml(yLabel)}</text>`
  );
}

function polyline(
  frame: Frame,
  series: readonly Second[],
  pick: (second: Second) => number | undefined,
  color: string,
  dash = '',
): string {
  const points = series
    .map((second) => {
      const value = pick(second);
      return value === undefined
        ? undefined
        : `${xOf(frame, second.s + 0.5).toFixed(1)},${yOf(frame, value).toFixed(1)}`;
    })
    .filter((point) => point !== undefined);
  return `<polyline fill="none" stroke="${color}" stroke-width="1.3" ${dash} points="${points.join(' ')}"/>`;
}

function answersChart(report: ChaosReport): string {
  const series = report.series;
  const yMax = Math.max(
    1,
    ...series.map((second) => second.ok + second.clientError + second.serverError + second.noAnswer),
  );
  const frame: Frame = {
    width: 1100,
    height: 300,
    left: 46,
    right: 10,
    top: 8,
    bottom: 22,
    seconds: series.length,
    yMax,
  };
  const body =
    faultBands(report, frame, true) +
    axes(frame, 'attempts / s', (value) => value.toFixed(0)) +
    polyline(frame, series, (second) => second.ok, classColors.ok) +
    polyline(frame, series, (second) => second.clientError, classColors.clientError) +
    polyline(frame, series, (second) => second.serverError, classColors.serverError) +
    polyline(frame, series, (second) => second.noAnswer, classColors.noAnswer);
  return svg(frame, body, 'answers per second by class, with the faults');
}

function availabilityChart(report: ChaosReport): string {
  const series = report.series;
  const frame: Frame = {
    width: 1100,
    height: 170,
    left: 46,
    right: 10,
    top: 8,
    bottom: 22,
    seconds: series.length,
    yMax: 100,
  };
  const threshold = `<line x1="${frame.left}" x2="${frame.width - frame.right}" y1="${yOf(frame, 99).toFixed(1)}" y2="${yOf(frame, 99).toFixed(1)}" stroke="#dc2626" stroke-dasharray="4 3"/>`;
  const body =
    faultBands(report, frame, false) +
    axes(frame, 'channel-only %', (value) => `${value.toFixed(0)}%`) +
    threshold +
    polyline(
      frame,
      series,
      (second) =>
        second.channelOnly === 0 ? undefined : (100 * second.channelOnlyGood) / second.channelOnly,
      '#0f766e',
    );
  return svg(frame, body, 'share of channel-only attempts answered without 5xx, per second');
}

function svg(frame: Frame, body: string, label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${frame.width} ${frame.height}" width="100%" role="img" aria-label="${escapeHtml(label)}">${body}</svg>`;
}

function legend(): string {
  const classes = [
    ['2xx', classColors.ok],
    ['4xx', classColors.clientError],
    ['5xx', classColors.serverError],
    ['no answer', classColors.noAnswer],
  ];
  const kinds = Object.entries(kindColors);
  return `<p class="legend">${classes.map(([name, color]) => `<span><i style="background:${color}"></i>${name}</span>`).join('')} · faults: ${kinds.map(([name, color]) => `<span><i style="background:${color};opacity:.5"></i>${name}</span>`).join('')}</p>`;
}

const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString().slice(11, 23));

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((cell) => `<th>${cell}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderHtml(report: ChaosReport): string {
  const start = Date.parse(report.times.loadStarted);
  const invariants = table(
    ['', 'invariant', 'what it found'],
    report.invariants.map((check) => [
      check.ok ? '<b class="ok">held</b>' : '<b class="bad">BROKEN</b>',
      `<code>${escapeHtml(check.name)}</code><br><small>${escapeHtml(check.statement)}</small>`,
      `${escapeHtml(check.summary)}${check.findings.length === 0 ? '' : `<ul>${check.findings.map((finding) => `<li>${escapeHtml(finding)}</li>`).join('')}</ul>`}`,
    ]),
  );
  const faults = table(
    ['#', 'fault', 'start (s)', 'injected', 'healed', 'back', 'what happened'],
    report.faults.map((fault) => [
      String(fault.id),
      `<span style="color:${kindColors[fault.kind]}">■</span> ${escapeHtml(fault.kind)}${fault.target ? ` ${escapeHtml(fault.target)}` : ''}${fault.variant ? ` (${escapeHtml(fault.variant)})` : ''}`,
      ((fault.startedAt - start) / 1_000).toFixed(1),
      iso(fault.startedAt),
      iso(fault.healedAt),
      iso(fault.backAt),
      escapeHtml(fault.error === undefined ? fault.detail : `FAILED: ${fault.error}`),
    ]),
  );
  const availability = table(
    ['fault', 'channel-only attempts', 'without 5xx', 'share'],
    report.availability.map((window) => [
      `#${window.fault} ${escapeHtml(window.kind)}`,
      String(window.attempts),
      String(window.good),
      `${(window.ratio * 100).toFixed(2)} %`,
    ]),
  );
  const operations = table(
    ['operation', 'count', 'retried', 'final answers'],
    Object.entries(report.operations.byKind).map(([kind, entry]) => [
      escapeHtml(kind),
      String(entry.total),
      String(entry.retried),
      escapeHtml(
        Object.entries(entry.byStatus)
          .sort((a, b) => b[1] - a[1])
          .map(([status, count]) => `${status} ×${count}`)
          .join(', '),
      ),
    ]),
  );
  const letters =
    report.deadLetters.length === 0
      ? '<p>Every DLQ was empty.</p>'
      : table(
          ['letter', 'event', 'failed', 'group', 'fault', 'error'],
          report.deadLetters.map((letter) => [
            escapeHtml(letter.ref),
            escapeHtml(letter.eventType ?? ''),
            escapeHtml(letter.failedAt),
            escapeHtml(letter.group),
            letter.fault === undefined ? '<b class="bad">none</b>' : `#${letter.fault}`,
            escapeHtml(letter.error.slice(0, 200)),
          ]),
        );
  const machine = report.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nuri Bank chaos run, seed ${report.seed}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111827;max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f4f6}code{font-size:12px}small{color:#4b5563}ul{margin:4px 0;padding-left:18px}
.ok{color:#047857}.bad{color:#b91c1c}.legend span{margin-right:12px;white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.verdict{font-size:18px;font-weight:600}pre{background:#f3f4f6;padding:8px;white-space:pre-wrap}
</style></head><body>
<h1>Nuri Bank chaos run</h1>
<p class="verdict ${report.ok ? 'ok' : 'bad'}">${report.ok ? 'Every invariant held' : `${report.invariants.filter((check) => !check.ok).length} invariant(s) BROKEN`}</p>
<p>Seed <b>${report.seed}</b>, ${report.options.durationS} s of load at ${report.options.rate} operations/s offered, faults ${escapeHtml(report.options.faults.join(', '))}; started ${escapeHtml(report.times.started)}. Repeat it with:</p>
<pre>${escapeHtml(report.reproduce)}</pre>
<h2>Answers per second, and the faults</h2>
${legend()}
${answersChart(report)}
<p><small>A band is a fault from its injection to its healing; the paler tail lasts until what it broke was back (the instance ready, the server answering).</small></p>
<h2>Channel-only routes without 5xx, per second (the line: 99 %)</h2>
${availabilityChart(report)}
<h2>Invariants</h2>
${invariants}
<h2>Faults</h2>
${faults}
<h2>Availability during core-zone faults</h2>
${report.availability.length === 0 ? '<p>No core-zone fault in this run.</p>' : availability}
<h2>Operations (${report.operations.total}, ${report.operations.attempts} attempts; ${report.operations.shed} not started while the core-bound backlog was full)</h2>
${operations}
<h2>Dead letters</h2>
${letters}
<h2>Kafka consumers after the heal</h2>
${
  report.consumerLag.reachable
    ? table(
        ['group', 'topic', 'lag'],
        report.consumerLag.items.map((item) => [
          escapeHtml(item.group),
          escapeHtml(item.topic),
          item.lag > 0 ? `<b class="bad">${item.lag}</b>` : '0',
        ]),
      )
    : `<p class="bad">The lag could not be read: ${escapeHtml(report.consumerLag.error ?? 'the broker did not answer')}</p>`
}
<h2>Run</h2>
${table(
  ['', ''],
  [
    ['commit', `${escapeHtml(machine.commit)}${machine.dirty ? ' (with uncommitted changes)' : ''}`],
    [
      'machine',
      escapeHtml(
        `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${machine.kernel}, Node ${machine.node}`,
      ),
    ],
    [
      'load average',
      escapeHtml(
        `${report.loadAverage.before.join(' ')} before, ${report.loadAverage.after.join(' ')} after`,
      ),
    ],
    [
      'times',
      escapeHtml(
        `load ${report.times.loadStarted} → ${report.times.loadEnded}; checked ${report.times.checked}`,
      ),
    ],
    [
      'core zone',
      escapeHtml(
        report.zone === null
          ? 'on loopback (no partition or latency fault asked for)'
          : `${report.zone.method}: ${report.zone.namespace}, ${report.zone.zoneAddress} ↔ ${report.zone.hostAddress}; tc netem ${report.zone.netem ? 'available' : 'not in this kernel'}`,
      ),
    ],
    [
      'infrastructure',
      escapeHtml(
        `Kafka ${report.infra.kafka} (the run's own), Redis ${report.infra.redis} (the run's own), PostgreSQL ${report.infra.postgres}, MariaDB ${report.infra.mariadb} (shared)`,
      ),
    ],
    [
      'instances',
      escapeHtml(report.topology.map((instance) => `${instance.name} (${instance.where})`).join(', ')),
    ],
    ['log lines', String(report.logs.lines)],
    ['notes', report.notes.map(escapeHtml).join('<br>')],
  ],
)}
</body></html>
`;
}
