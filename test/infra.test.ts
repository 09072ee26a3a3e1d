import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { allTopics, dlqTopic } from '@nuri/contracts/events';
import { Admin } from '@platformatic/kafka';
import { rootDir } from '../src/cli/paths.ts';

const cli = join(rootDir, 'src', 'cli', 'main.ts');

function nuri(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env });
}

test('when everything already runs, then infra up changes nothing, creates nothing and reports every component up', (t) => {
  const first = nuri(['infra', 'up']);
  assert.equal(first.status, 0, first.stderr);
  const startedAt = Date.now();
  const second = nuri(['infra', 'up']);
  const elapsedMs = Date.now() - startedAt;
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /created database|starting /);
  for (const component of ['postgresql', 'mariadb', 'redis', 'kafka']) {
    assert.match(second.stdout, new RegExp(`^${component}\\s+up\\s+\\S+:\\d+\\s+\\S`, 'm'));
  }
  // A figure for the closing note, not an assertion: timing belongs to benchmarks.
  t.diagnostic(`idempotent infra up took ${elapsedMs} ms`);
});

test('when infra up has run, then every docs/architecture.md topic and its DLQ exist on the broker', async () => {
  const admin = new Admin({
    clientId: 'nuri-infra-test',
    bootstrapBrokers: (process.env.NURI_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    timeout: 5_000,
  });
  try {
    const existing = new Set(await admin.listTopics());
    for (const topic of allTopics) {
      assert.ok(existing.has(topic), `${topic} is missing`);
      assert.ok(existing.has(dlqTopic(topic)), `${dlqTopic(topic)} is missing`);
    }
  } finally {
    await admin.close();
  }
});

test('when Redis is down and redis-server is not installed, then infra up stops naming the Debian package to install', () => {
  const result = nuri(['infra', 'up'], {
    ...process.env,
    // Nothing listens on port 1; an empty PATH hides every server binary.
    NURI_REDIS_URL: 'redis://127.0.0.1:1',
    PATH: '/nonexistent',
  });
  assert.equal(result.status, 1);
  assert.match(
    result.stderr,
    /Redis is not running and not installed\. Install it with `apt-get install redis-server`/,
  );
});

test('when a component is down at an address nuri does not manage, then infra up refuses to start it and says why', () => {
  // 127.0.0.2 stays on loopback (tests send no traffic elsewhere) but is not the local default nuri starts servers on.
  const result = nuri(['infra', 'up'], { ...process.env, NURI_REDIS_URL: 'redis://127.0.0.2:1' });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /Redis does not answer at 127\.0\.0\.2:1; it is not local/);
});

test('when the CLI is given an unknown command or a bad variable, then it exits non-zero with a message', () => {
  const unknown = nuri(['frobnicate']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badVariable = nuri(['infra', 'status'], { ...process.env, NURI_KAFKA_PARTITIONS: 'many' });
  assert.equal(badVariable.status, 1);
  assert.match(badVariable.stderr, /NURI_KAFKA_PARTITIONS must be integer/);
});
