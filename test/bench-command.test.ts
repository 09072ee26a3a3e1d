import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { scenarioGroups, scenarioNames } from '../bench/suite/options.ts';
import { rootDir } from '../src/cli/paths.ts';

// `nuri bench` hands its arguments to the suite's one entry point (runBench);
// these run the real CLI, which answers --help and usage errors before it
// touches the infrastructure.
const cli = join(rootDir, 'src', 'cli', 'main.ts');

function nuri(args: string[]) {
  // Generous: loading the CLI and the suite's modules on a loaded 2-core machine takes seconds.
  return spawnSync(process.execPath, [cli, ...args], { cwd: rootDir, encoding: 'utf8', timeout: 60_000 });
}

describe('nuri bench', () => {
  test('when asked for --help, then it lists every scenario and every group and exits 0', () => {
    const result = nuri(['bench', '--help']);
    assert.equal(result.status, 0, result.stderr);
    for (const name of [...scenarioNames, ...Object.keys(scenarioGroups)]) {
      assert.match(result.stdout, new RegExp(`^  ${name} `, 'm'), `${name} is not listed`);
    }
  });

  test('when a scenario is unknown, then it exits 2 naming it, before anything boots', () => {
    const result = nuri(['bench', 'withdraw', 'core-payment.ts', '--runs', '1']);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /unknown scenario core-payment\.ts; known: coupon-rush/);
    assert.doesNotMatch(result.stderr, /booting|system up/);
  });
});
