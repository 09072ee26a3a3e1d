import { spawn } from 'node:child_process';
import { globSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CliConfig } from '../config.ts';
import { say } from '../log.ts';
import { cacheDir, rootDir } from '../paths.ts';
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
  mkdirSync(cacheDir, { recursive: true });
  const runs = [
    { files: parallel, concurrency: 2, failures: join(cacheDir, 'test-failures.parallel.jsonl') },
    { files: serial, concurrency: 1, failures: join(cacheDir, 'test-failures.faults.jsonl') },
  ];
  let exitCode = 0;
  for (const run of runs) {
    rmSync(run.failures, { force: true });
    if (run.files.length === 0) continue;
    const code = await runNodeTests(run.files, run.concurrency, run.failures, env);
    if (exitCode === 0) exitCode = code;
  }
  if (exitCode !== 0)
    sayFailures(
      runs.map((run) => run.failures),
      exitCode,
    );
  return exitCode;
}

export type TestFailure = { where: string; name: string; error: string };

/** The failures a run's failures reporter wrote (none if it wrote no file). */
export function readFailures(failuresFile: string): TestFailure[] {
  let text: string;
  try {
    text = readFileSync(failuresFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TestFailure);
}

/** Every failed test of both runs, last, so that the tail of a long log names them. */
function sayFailures(failuresFiles: string[], exitCode: number): void {
  const failures = failuresFiles.flatMap(readFailures);
  if (failures.length === 0) {
    say(
      `the tests failed (exit code ${exitCode}) without a failed test on record: a run was killed; see above`,
    );
    return;
  }
  say(`${failures.length} failed test(s):`);
  for (const failure of failures) say(`  ✖ ${failure.where} — ${failure.name}: ${failure.error}`);
}

/** Node's test runner: the spec reporter on stdout, and one JSON line per failed test into failuresFile. */
export function nodeTestArgs(files: string[], concurrency: number, failuresFile: string): string[] {
  return [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(rootDir, 'src', 'cli', 'failures-reporter.ts')}`,
    `--test-reporter-destination=${failuresFile}`,
    `--test-timeout=${testTimeoutMs}`,
    `--test-concurrency=${concurrency}`,
    ...files,
  ];
}

function runNodeTests(
  files: string[],
  concurrency: number,
  failuresFile: string,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const child = spawn(process.execPath, nodeTestArgs(files, concurrency, failuresFile), {
    cwd: rootDir,
    stdio: 'inherit',
    env,
  });
  return new Promise((resolveCode) => {
    child.on('exit', (code, signal) => resolveCode(code ?? (signal ? 1 : 0)));
  });
}
