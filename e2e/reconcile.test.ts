import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { uuidv7 } from '@nuri/platform/ids';
import pg from 'pg';
import { loadCliConfig } from '../src/cli/config.ts';
import { rootDir } from '../src/cli/paths.ts';
import { environmentWithSecrets } from '../src/cli/secrets.ts';
import { startTestSystem, type TestSystem } from './harness.ts';

// `npx nuri reconcile` against a running system: it asks each service that
// owns data for its report, prints it, and its exit code says whether
// everything agrees.
let system: TestSystem;

before(async () => {
  system = await startTestSystem();
});

after(async () => {
  await system?.shutdown();
});

function reconcile() {
  return spawnSync(process.execPath, [join(rootDir, 'src', 'cli', 'main.ts'), 'reconcile'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: system.env,
  });
}

test('when the ledger agrees with every balance, then reconcile prints RECONCILED and exits 0', () => {
  const result = reconcile();
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /core-payment\n/);
  assert.match(result.stdout, /point\n/);
  assert.match(result.stdout, /OK {2}\s+balance = ledger sum, every account/);
  assert.match(result.stdout, /coupon\n/);
  assert.match(result.stdout, /OK {2}\s+coupons issued in Redis = recorded in the core\s+0 mismatches/);
  assert.match(result.stdout, /RECONCILED\n$/);
});

test('when a balance is changed directly in SQL, then reconcile names the account, prints MISMATCH and exits 1', async () => {
  const token = environmentWithSecrets(system.env).NURI_INTERNAL_TOKEN;
  const opened = await fetch(`${system.env.NURI_CORE_PAYMENT_URL}/internal/v1/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userUuid: uuidv7() }),
  });
  assert.equal(opened.status, 201);
  const { accountNo } = (await opened.json()) as { accountNo: string };
  const config = loadCliConfig(system.env);
  const url = new URL(config.NURI_PG_URL);
  url.pathname = `/${system.env.NURI_CORE_PAYMENT_DB}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query('update accounts set balance = balance + 1 where account_no = $1', [accountNo]);
  } finally {
    await client.end();
  }
  const result = reconcile();
  assert.equal(result.status, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /FAIL\s+balance = ledger sum, every account\s+1 mismatches/);
  assert.ok(result.stdout.includes(accountNo), 'the tampered account is named');
  assert.match(result.stdout, /MISMATCH\n$/);
});

test('when a service cannot be reached, then reconcile says so and exits 2', () => {
  const result = spawnSync(process.execPath, [join(rootDir, 'src', 'cli', 'main.ts'), 'reconcile'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...system.env, NURI_POINT_URL: 'http://127.0.0.1:1' },
  });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /could not reach point/);
});
