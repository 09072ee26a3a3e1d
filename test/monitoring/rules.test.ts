import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gatherReconciliation } from '@nuri/platform/reconciliation';
import { parse } from 'yaml';
import { slugOf } from '../../services/gateway/src/reconciliation-metrics.ts';
import { monitoringDir } from '../../src/cli/monitoring.ts';
import { exportedByCode, metricNamesIn, promtool, toolPresent } from './tools.ts';

const rulesDir = join(monitoringDir, 'rules');
const ruleFiles = globSync('*.yml', { cwd: rulesDir }).map((file) => join(rulesDir, file));
const ruleTestFiles = globSync('tests/*.test.yml', { cwd: rulesDir }).map((file) => join(rulesDir, file));

type RuleFile = {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
};
const rulesOf = (file: string) =>
  (parse(readFileSync(file, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

test('when promtool checks the rule files, then every recording and alerting rule parses', (t) => {
  if (!toolPresent(t, 'promtool')) return;
  assert.ok(ruleFiles.length >= 2, 'deploy/monitoring/rules holds the recording and the alert rules');
  const result = promtool(['check', 'rules', ...ruleFiles]);
  assert.equal(result.status, 0, result.output);
});

test('when promtool runs the alerts’ unit tests on synthetic series, then each fires when it should and only then', (t) => {
  if (!toolPresent(t, 'promtool')) return;
  const result = promtool(['test', 'rules', ...ruleTestFiles]);
  assert.equal(result.status, 0, result.output);
});

test('when an alert is defined, then a unit test shows it firing', () => {
  const alerts = ruleFiles.flatMap(rulesOf).flatMap((rule) => (rule.alert === undefined ? [] : [rule.alert]));
  const tested = new Set(
    ruleTestFiles.flatMap((file) =>
      (
        parse(readFileSync(file, 'utf8')) as {
          tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
        }
      ).tests.flatMap((unit) =>
        (unit.alert_rule_test ?? []).filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname),
      ),
    ),
  );
  assert.ok(alerts.length >= 9);
  assert.deepEqual(
    alerts.filter((alert) => !tested.has(alert)),
    [],
    'alerts without a test that shows them firing',
  );
});

test('when a rule reads a metric, then the code exports a metric of that name', () => {
  const names = new Set(ruleFiles.flatMap(rulesOf).flatMap((rule) => metricNamesIn(rule.expr)));
  assert.ok(names.size >= 15, `the rules read ${names.size} metrics`);
  assert.deepEqual(
    [...names].filter((name) => !exportedByCode(name)),
    [],
    'metrics the rules read that no code exports (renamed?)',
  );
});

test('when the coupon alert names its reconciliation check, then it is the check the reconciliation reports', async () => {
  const sections = await gatherReconciliation(async () => ({}));
  const coupon = sections.find((section) => section.service === 'coupon');
  assert.ok(coupon !== undefined && coupon.checks.length === 1);
  const alerts = readFileSync(join(rulesDir, 'nuri-alerts.yml'), 'utf8');
  const slug = slugOf(coupon.checks[0]!.label);
  assert.equal(slug, 'coupons-issued-in-redis-recorded-in-the-core');
  assert.ok(alerts.includes(`check="${slug}"`) && alerts.includes(`check!="${slug}"`));
});
