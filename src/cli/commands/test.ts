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
];
/** No single test may hang the run: CI has a budget, and a hung test says nothing. */
const testTimeoutMs = 180_000;

export function findTestFiles(filters: string[]): string[] {
  const files = testGlobs.flatMap((pattern) => globSync(pattern, { cwd: rootDir })).sort();
  if (filters.length === 0) return files;
  return files.filter((file) => filters.some((filter) => file.includes(filter)));
}

/** Runs the suites with Node's own test runner on this (pinned) Node; resolves with its exit code. */
export function runTests(config: CliConfig, filters: string[]): Promise<number> {
  const files = findTestFiles(filters);
  if (files.length === 0) {
    say(`no test files match ${filters.join(' ')}`);
    return Promise.resolve(1);
  }
  say(`running ${files.length} test files`);
  const child = spawn(
    process.execPath,
    ['--test', '--test-reporter=spec', `--test-timeout=${testTimeoutMs}`, '--test-concurrency=2', ...files],
    {
      cwd: rootDir,
      stdio: 'inherit',
      env: { ...environmentWithSecrets(), NURI_KAFKA_BROKERS: config.NURI_KAFKA_BROKERS },
    },
  );
  return new Promise((resolveCode) => {
    child.on('exit', (code, signal) => resolveCode(code ?? (signal ? 1 : 0)));
  });
}
