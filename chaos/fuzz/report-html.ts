// The fuzz run's report.html: one self-contained page (inline CSS, no script).
import { escapeHtml } from '../report-html.ts';
import type { FuzzReport } from './run.ts';

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((cell) => `<th>${cell}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const histogram = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${key} ×${count}`)
    .join(', ');

export function renderFuzzHtml(report: FuzzReport): string {
  const invariants = table(
    ['', 'invariant', 'what it found'],
    report.invariants.map((check) => [
      check.ok ? '<b class="ok">held</b>' : '<b class="bad">BROKEN</b>',
      `<code>${escapeHtml(check.name)}</code><br><small>${escapeHtml(check.statement)}</small>`,
      `${escapeHtml(check.summary)}${check.findings.length === 0 ? '' : `<ul>${check.findings.map((finding) => `<li>${escapeHtml(finding)}</li>`).join('')}</ul>`}`,
    ]),
  );
  const routes = table(
    ['route', 'cases', 'answers', 'families'],
    report.routes.map((route) => [
      `<code>${escapeHtml(route.route)}</code>`,
      String(route.cases),
      escapeHtml(histogram(route.byStatus)),
      escapeHtml(histogram(route.families)),
    ]),
  );
  const memory = table(
    ['instance', 'start MB', 'max MB', 'end MB'],
    report.memory.map((entry) => [
      escapeHtml(entry.instance),
      String(entry.startMb),
      String(entry.maxMb),
      String(entry.endMb),
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nuri Bank fuzz run, seed ${report.seed}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111827;max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f4f6}code{font-size:12px}small{color:#4b5563}ul{margin:4px 0;padding-left:18px}
.ok{color:#047857}.bad{color:#b91c1c}.verdict{font-size:18px;font-weight:600}pre{background:#f3f4f6;padding:8px;white-space:pre-wrap}
</style></head><body>
<h1>Nuri Bank fuzz run</h1>
<p class="verdict ${report.ok ? 'ok' : 'bad'}">${report.ok ? 'No findings' : `${report.invariants.filter((check) => !check.ok).length} invariant(s) BROKEN`}</p>
<p>Seed <b>${report.seed}</b>: ${report.cases} cases over ${report.routes.length} routes, ${escapeHtml(report.times.started)} → ${escapeHtml(report.times.finished)}, commit ${escapeHtml(report.machine.commit)}${report.machine.dirty ? ' (with uncommitted changes)' : ''}. Repeat it with:</p>
<pre>${escapeHtml(report.reproduce)}</pre>
<h2>Invariants</h2>
${invariants}
<h2>Cases per route</h2>
${routes}
<h2>Slow clients</h2>
<p>${report.slow.clients} clients sending one byte a second: headers, ${escapeHtml(report.slow.groups.headers)}; bodies, ${escapeHtml(report.slow.groups.bodies)}. In all ${report.slow.closedWithinMs.length} closed by the server (after ${report.slow.closedWithinMs[0] ?? '-'}–${report.slow.closedWithinMs.at(-1) ?? '-'} ms), ${report.slow.stillOpen} still open at the end; meanwhile ${report.slow.probes} other requests took p99 ${report.slow.probeP99Ms} ms, at most ${report.slow.probeMaxMs} ms.</p>
<h2>Memory (resident, sampled each second)</h2>
${memory}
</body></html>
`;
}
