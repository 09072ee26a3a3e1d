import { spawn } from 'node:child_process';
import { globSync } from 'node:fs';
import type { CliConfig } from '../config.ts';
import { say } from '../log.ts';
import { rootDir } from '../paths.ts';
import { environmentWithSecrets } from '../secrets.ts';

const testGlobs = [
  'test/**/*.test.ts',
  'packages/*/test/**/*.test.ts',
  'services/*/test/**/*.test.ts',
  'e2e/**/*.test.ts',
  'bench/test/**/*.test.ts',
  'chaos/test/**/*.test.ts',
];
/** No single test may hang the run: CI has a budget, and a hung test says nothing. */
const testTimeoutMs = 180_000;

export function findTestFiles(filters: string[]): string[] {
  const files = testGlobs.flatMap((pattern) => globSync(pattern, { cwd: rootDir })).sort();
  if (filters.length === 0) return files;
  return files.filter((file) => filters.some((filter) => file.includes(filter)));
}

/**
 * Tests that kill, stop and restart processes and then time how long the
 * system takes to heal: they run after the others, one file at a time, so
 * that what they measure (an instance back within 10 s, an answer within a
 * second) is the system's own speed, not that of two cores shared with
 * another test file's whole system.
 */
const faultTestsDir = 'e2e/faults/';

/** Runs the suites with Node's own test runner on this (pinned) Node; resolves with its exit code. */
export async function runTests(config: CliConfig, filters: string[]): Promise<number> {
  const files = findTestFiles(filters);
  if (files.length === 0) {
    say(`no test files match ${filters.join(' ')}`);
    return 1;
  }
  const parallel = files.filter((file) => !file.startsWith(faultTestsDir));
  const serial = files.filter((file) => file.startsWith(faultTestsDir));
  say(`running ${files.length} test files (${serial.length} fault tests after the rest, one at a time)`);
  const env = { ...environmentWithSecrets(), NURI_KAFKA_BROKERS: config.NURI_KAFKA_BROKERS };
  const first = parallel.length === 0 ? 0 : await runNodeTests(parallel, 2, env);
  const second = serial.length === 0 ? 0 : await runNodeTests(serial, 1, env);
  return first !== 0 ? first : second;
}

function runNodeTests(files: string[], concurrency: number, env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '--test',
      '--test-reporter=spec',
      `--test-timeout=${testTimeoutMs}`,
      `--test-concurrency=${concurrency}`,
      ...files,
    ],
    { cwd: rootDir, stdio: 'inherit', env },
  );
  return new Promise((resolveCode) => {
    child.on('exit', (code, signal) => resolveCode(code ?? (signal ? 1 : 0)));
  });
}
