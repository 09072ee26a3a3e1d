// Prometheus' own binaries for the monitoring tests: present, or the test is
// skipped saying how to install them — except under CI (.ci/run installs
// Debian's `prometheus`, which brings promtool), where a missing one fails.
import { spawnSync } from 'node:child_process';
import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { prometheusInstallHint } from '../../src/cli/monitoring.ts';
import { rootDir } from '../../src/cli/paths.ts';
import { toolPresent as anyToolPresent } from '../deploy/manifests.ts';

export function toolPresent(t: TestContext, command: 'prometheus' | 'promtool'): boolean {
  return anyToolPresent(t, command, ['--version'], prometheusInstallHint);
}

export function promtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

// prom-client's default metrics (collectDefaultMetrics with the nuri_ prefix, metrics.ts) that dashboards read.
const defaultMetrics = new Set([
  'nuri_process_cpu_seconds_total',
  'nuri_process_resident_memory_bytes',
  'nuri_process_start_time_seconds',
  'nuri_nodejs_eventloop_lag_p99_seconds',
]);

let sources: string | undefined;

/** True when the services or packages register a metric of this name (a histogram's _bucket/_count/_sum included). */
export function exportedByCode(name: string): boolean {
  if (defaultMetrics.has(name)) return true;
  sources ??= [
    ...globSync('packages/*/src/**/*.ts', { cwd: rootDir }),
    ...globSync('services/*/src/**/*.ts', { cwd: rootDir }),
  ]
    .map((file) => readFileSync(join(rootDir, file), 'utf8'))
    .join('\n');
  const code = sources;
  return [name, name.replace(/_(bucket|count|sum)$/, '')].some((candidate) =>
    code.includes(`'${candidate}'`),
  );
}

/** The raw metric names (nuri_…, not recorded level:metric:operation ones) a PromQL expression reads. */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/(?<![:\w])(nuri_[a-z0-9_]+)(?![:\w])/g)].map((match) => match[1]!);
}
