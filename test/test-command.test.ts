import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { nodeTestArgs, readFailures } from '../src/cli/commands/test.ts';

// `nuri test` names every failed test at the end of its output: Node's test
// runner runs for real on throwaway test files, with the same arguments.

const dir = mkdtempSync(join(tmpdir(), 'nuri-test-command-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function runNodeTest(files: Record<string, string>): { status: number | null; failuresFile: string } {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const failuresFile = join(dir, `failures-${Object.keys(files).join('-')}.jsonl`);
  const result = spawnSync(process.execPath, nodeTestArgs(Object.keys(files), 1, failuresFile), {
    cwd: dir,
    encoding: 'utf8',
    // Inside a test, Node marks its children as part of this run; these are runs of their own.
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  return { status: result.status, failuresFile };
}

test('when tests fail, then each failed test (not its suite) is on record with its file, line and error on one line', () => {
  const { status, failuresFile } = runNodeTest({
    'a.test.ts': [
      "import assert from 'node:assert/strict';",
      "import { describe, test } from 'node:test';",
      "describe('a suite', () => {",
      "  test('passes', () => {});",
      "  test('compares', () => assert.equal(1 + 1, 3));",
      '});',
      "test('throws', () => { throw new Error('first\\nsecond'); });",
      '',
    ].join('\n'),
  });
  assert.equal(status, 1);
  assert.deepEqual(readFailures(failuresFile), [
    {
      where: join(dir, 'a.test.ts:5'),
      name: 'compares',
      error: 'Expected values to be strictly equal: 2 !== 3',
    },
    { where: join(dir, 'a.test.ts:7'), name: 'throws', error: 'first second' },
  ]);
});

test('when a test file does not load, then the file itself is on record as failed', () => {
  const { status, failuresFile } = runNodeTest({ 'b.test.ts': "import './missing.ts';\n" });
  assert.equal(status, 1);
  const failures = readFailures(failuresFile);
  assert.equal(failures.length, 1);
  assert.equal(failures[0]?.name, 'b.test.ts');
});

test('when every test passes, then nothing is on record', () => {
  const { status, failuresFile } = runNodeTest({
    'c.test.ts': "import { test } from 'node:test';\ntest('passes', () => {});\n",
  });
  assert.equal(status, 0);
  assert.deepEqual(readFailures(failuresFile), []);
});
