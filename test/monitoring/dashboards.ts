// The Grafana dashboards of deploy/monitoring/grafana/dashboards, read as
// Grafana would, with their template variables filled in so each panel's
// query is plain PromQL (for promtool, and for a running Prometheus).
import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitoringDir } from '../../src/cli/monitoring.ts';

export const dashboardsDir = join(monitoringDir, 'grafana', 'dashboards');

type Panel = {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
  panels?: Panel[];
};
export type Dashboard = {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string }> };
};

export function dashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return globSync('*.json', { cwd: dashboardsDir }).map((file) => ({
    file,
    dashboard: JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as Dashboard,
  }));
}

export function panelsOf(dashboard: Dashboard): Panel[] {
  return dashboard.panels
    .flatMap((panel) => [panel, ...(panel.panels ?? [])])
    .filter((p) => p.type !== 'row');
}

// Grafana's own variables, and the dashboards' ($service), as a value each.
const substitutions: Array<[RegExp, string]> = [
  [/\$__rate_interval|\$\{__rate_interval\}/g, '1m'],
  [/\$__interval|\$\{__interval\}/g, '15s'],
  [/\$__range|\$\{__range\}/g, '1h'],
  [/\$service|\$\{service\}/g, 'gateway'],
];

export function dashboardQueries(): Array<{ dashboard: string; panel: string; expr: string }> {
  return dashboards().flatMap(({ dashboard }) =>
    panelsOf(dashboard).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        dashboard: dashboard.title,
        panel: panel.title,
        expr: substitutions.reduce((text, [pattern, value]) => text.replace(pattern, value), target.expr),
      })),
    ),
  );
}
