import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { monitoringDir } from '../../src/cli/monitoring.ts';
import { dashboardQueries, dashboards, panelsOf } from './dashboards.ts';
import { exportedByCode, metricNamesIn, promtool, toolPresent } from './tools.ts';

const provisioningDir = join(monitoringDir, 'grafana', 'provisioning');

test('when promtool parses every panel’s query (variables filled in), then each one is valid PromQL', (t) => {
  if (!toolPresent(t, 'promtool')) return;
  const queries = dashboardQueries();
  assert.ok(queries.length >= 30, `${queries.length} queries`);
  // promtool parses rule files: each query becomes a recording rule of its own.
  const dir = mkdtempSync(join(tmpdir(), 'nuri-dashboards-'));
  try {
    const file = join(dir, 'panels.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'panels',
            rules: queries.map((query, index) => ({ record: `nuri:panel_${index}`, expr: query.expr })),
          },
        ],
      }),
    );
    const result = promtool(['check', 'rules', file]);
    const refused = result.status === 0 ? '' : result.output;
    assert.equal(result.status, 0, `a panel's query does not parse:\n${refused}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('when Grafana provisions the dashboards, then each has a unique uid and every panel reads the provisioned Prometheus', () => {
  const datasources = parse(
    readFileSync(join(provisioningDir, 'datasources', 'nuri-prometheus.yml'), 'utf8'),
  ) as {
    datasources: Array<{ uid: string; type: string }>;
  };
  const uid = datasources.datasources[0]!.uid;
  const found = dashboards();
  assert.deepEqual(found.map(({ dashboard }) => dashboard.uid).sort(), [
    'nuri-kafka-outbox',
    'nuri-money',
    'nuri-overview',
    'nuri-service',
  ]);
  for (const { file, dashboard } of found) {
    for (const panel of panelsOf(dashboard)) {
      assert.equal(panel.datasource?.uid, uid, `${file}: panel "${panel.title}"`);
      assert.ok((panel.targets ?? []).length > 0, `${file}: panel "${panel.title}" has no query`);
      for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid ?? uid, uid);
    }
    const ids = panelsOf(dashboard).map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
  }
  const providers = parse(readFileSync(join(provisioningDir, 'dashboards', 'nuri.yml'), 'utf8')) as {
    providers: Array<{ type: string; options: { path: string } }>;
  };
  assert.equal(providers.providers[0]!.type, 'file');
});

test('when a panel reads a series, then it is one the recording rules record or the code exports', () => {
  const rules = readFileSync(join(monitoringDir, 'rules', 'nuri-recording.yml'), 'utf8');
  const recorded = new Set([...rules.matchAll(/record: ([a-z_:0-9]+)/g)].map((match) => match[1]!));
  const unknown: string[] = [];
  for (const { panel, expr } of dashboardQueries()) {
    for (const [name] of expr.matchAll(/\b[a-z_]+:[a-z0-9_:]+\b/g)) {
      if (!recorded.has(name)) unknown.push(`${panel}: ${name}`);
    }
  }
  assert.deepEqual(unknown, [], 'panels reading recorded series that no rule records');
  const unexported = dashboardQueries().flatMap(({ panel, expr }) =>
    metricNamesIn(expr)
      .filter((name) => !exportedByCode(name))
      .map((name) => `${panel}: ${name}`),
  );
  assert.deepEqual(unexported, [], 'panels reading metrics no code exports');
});
