import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '@nuri/platform/testing';
import { type PrometheusProcess, startPrometheus, type TargetGroup } from '../src/cli/monitoring.ts';
import { hasCommand } from '../src/cli/process.ts';
import { dashboardQueries } from '../test/monitoring/dashboards.ts';
import { toolPresent } from '../test/monitoring/tools.ts';
import { startTestSystem, type TestSystem } from './harness.ts';

// A real Prometheus (Debian's binary) over a real test system, as
// `npm start -- --monitoring` runs it: file-based discovery of every
// instance from the targets file the supervisor writes, the rules of
// deploy/monitoring/rules evaluated against what the services export, and
// every Grafana panel's query answered by this Prometheus.

const scale = { coupon: 2 };
let system: TestSystem | undefined;
let prometheus: PrometheusProcess | undefined;
let workDir: string;
let targetsFile: string;
before(async () => {
  // Without Prometheus each test skips (or, under CI, fails) by itself.
  if (!hasCommand('prometheus')) return;
  workDir = mkdtempSync(join(tmpdir(), 'nuri-monitoring-'));
  targetsFile = join(workDir, 'targets.json');
  system = await startTestSystem({
    scale,
    targetsFile,
    // The gateway's periodic reconciliation, soon enough to be seen here.
    envOverrides: { NURI_GATEWAY_RECONCILE_INTERVAL_MS: '3000' },
  });
  prometheus = await startPrometheus({
    port: (await freePorts(1))[0]!,
    dir: join(workDir, 'prometheus'),
    targetsFile,
    scrapeIntervalSeconds: 1,
    evaluationIntervalSeconds: 1,
  });
});

after(async () => {
  await prometheus?.stop();
  await system?.shutdown();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

type Target = { labels: Record<string, string>; health: string; lastError: string };

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${prometheus!.url}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
}

async function activeTargets(): Promise<Target[]> {
  return (await api<{ activeTargets: Target[] }>('/api/v1/targets?state=active')).activeTargets;
}

async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} within ${timeoutMs} ms (last error: ${String(last)})`);
    await sleep(500);
  }
}

test('when the system runs, then Prometheus finds every instance in the targets file and scrapes each one up', async (t) => {
  if (!toolPresent(t, 'prometheus')) return;
  const instances = system!.supervisor.list();
  assert.equal(instances.length, 7, 'six services, coupon twice');
  const written = JSON.parse(readFileSync(targetsFile, 'utf8')) as TargetGroup[];
  assert.deepEqual(
    written.map((group) => group.labels.nuri_instance).sort(),
    instances.map((i) => i.name).sort(),
  );
  const targets = await eventually('every instance scraped up', 60_000, async () => {
    const found = await activeTargets();
    return found.length === instances.length && found.every((target) => target.health === 'up')
      ? found
      : undefined;
  });
  assert.deepEqual(
    targets.map((target) => target.labels.nuri_instance).sort(),
    instances.map((instance) => instance.name).sort(),
  );
  const gateway = targets.find((target) => target.labels.service === 'gateway')!;
  const opsPort = system!.topology.instances.find((instance) => instance.service.name === 'gateway')!.port;
  assert.equal(gateway.labels.instance, `127.0.0.1:${opsPort}`, 'the gateway is scraped on its ops port');
});

test('when the rules are evaluated on the services’ own series, then every rule evaluates and every service counts its ready instances', async (t) => {
  if (!toolPresent(t, 'prometheus')) return;
  type Rule = { name: string; health: string; lastError?: string };
  const groups = await eventually('every rule evaluated once', 30_000, async () => {
    const found = (await api<{ groups: Array<{ name: string; rules: Rule[] }> }>('/api/v1/rules')).groups;
    return found.length >= 7 && found.every((group) => group.rules.every((rule) => rule.health !== 'unknown'))
      ? found
      : undefined;
  });
  const broken = groups.flatMap((group) => group.rules.filter((rule) => rule.health !== 'ok'));
  assert.deepEqual(broken, [], 'rules whose evaluation failed on real series');
  const expected = { 'channel-user': 1, 'core-payment': 1, 'core-user': 1, coupon: 2, gateway: 1, point: 1 };
  let byService: Record<string, number> = {};
  await eventually('every instance counted ready', 30_000, async () => {
    const result = await api<{ result: Array<{ metric: { service: string }; value: [number, string] }> }>(
      `/api/v1/query?query=${encodeURIComponent('service:nuri_instances_ready:sum')}`,
    );
    byService = Object.fromEntries(result.result.map((row) => [row.metric.service, Number(row.value[1])]));
    return JSON.stringify(Object.entries(byService).sort()) ===
      JSON.stringify(Object.entries(expected).sort())
      ? true
      : undefined;
  }).catch(() => undefined);
  assert.deepEqual(byService, expected);
  // The gateway's periodic reconciliation reached Prometheus, and a fresh bank is consistent.
  const checks = await eventually('a reconciliation recorded', 60_000, async () => {
    const result = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
      `/api/v1/query?query=${encodeURIComponent('section_check:nuri_reconciliation_check_ok:min')}`,
    );
    return result.result.length >= 8 ? result.result : undefined;
  });
  assert.deepEqual(
    checks.filter((row) => row.value[1] !== '1').map((row) => row.metric),
    [],
    'reconciliation checks that do not hold on a fresh system',
  );
  const firing = await api<{ alerts: Array<{ labels: { alertname: string }; state: string }> }>(
    '/api/v1/alerts',
  );
  assert.deepEqual(
    firing.alerts.filter((alert) => alert.state === 'firing').map((alert) => alert.labels.alertname),
    [],
  );
});

test('when every Grafana panel’s query is sent to this Prometheus, then each one is accepted', async (t) => {
  if (!toolPresent(t, 'prometheus')) return;
  const queries = dashboardQueries();
  assert.ok(queries.length >= 20, `${queries.length} panel queries`);
  const refused: string[] = [];
  for (const { dashboard, panel, expr } of queries) {
    const response = await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { status: string; error?: string };
    if (body.status !== 'success') refused.push(`${dashboard} / ${panel}: ${body.error}`);
  }
  assert.deepEqual(refused, []);
});

test('when an instance is stopped, then the supervisor drops it from the targets and Prometheus stops scraping it', async (t) => {
  if (!toolPresent(t, 'prometheus')) return;
  await system!.supervisor.stop('coupon#2');
  const written = JSON.parse(readFileSync(targetsFile, 'utf8')) as TargetGroup[];
  assert.ok(!written.some((group) => group.labels.nuri_instance === 'coupon#2'));
  // Prometheus watches the file: the target goes without waiting for its refresh interval.
  const targets = await eventually('coupon#2 no longer a target', 30_000, async () => {
    const found = await activeTargets();
    return found.some((target) => target.labels.nuri_instance === 'coupon#2') ? undefined : found;
  });
  assert.equal(targets.length, 6);
  system!.supervisor.resume('coupon#2');
  await eventually('coupon#2 a target again', 30_000, async () =>
    (await activeTargets()).some((target) => target.labels.nuri_instance === 'coupon#2') ? true : undefined,
  );
});
