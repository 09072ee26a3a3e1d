import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rootDir } from '../src/cli/paths.ts';

const requiredMajor = 24;
const majorOf = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

test('when the suites run, then they run on Node 24 or newer', () => {
  assert.ok(
    majorOf(process.version) >= requiredMajor,
    `tests run on ${process.version}, below Node ${requiredMajor}`,
  );
});

test('when a fresh machine installs the project, then the node devDependency, engines and .nvmrc all pin Node 24', () => {
  const manifest = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
    engines: { node: string };
  };
  assert.match(manifest.devDependencies.node ?? '', /^\^?24\./);
  assert.match(manifest.engines.node, />=24/);
  assert.equal(readFileSync(join(rootDir, '.nvmrc'), 'utf8').trim(), '24');
  const installed = JSON.parse(
    readFileSync(join(rootDir, 'node_modules', 'node', 'package.json'), 'utf8'),
  ) as {
    version: string;
  };
  assert.equal(majorOf(installed.version), requiredMajor);
});

// The launcher is what `npm start`/`npm test` run first, possibly on an older
// system Node: it must hand over to the pinned Node 24.
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => existsSync(path));

test('when the launcher runs on the system Node, then the CLI still runs on the pinned Node 24', {
  skip: systemNode === undefined && 'no system Node to start from',
}, () => {
  const result = spawnSync(systemNode!, [join(rootDir, 'bin', 'nuri.mjs'), 'version'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(majorOf(result.stdout.trim()), requiredMajor);
});
