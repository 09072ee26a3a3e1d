import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createEvent } from '@nuri/contracts/events';
import { uuidv7, uuidv7Floor } from '@nuri/platform/ids';
import { createEventProducer } from '@nuri/platform/kafka/producer';
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

async function clientOf(database: string | undefined): Promise<pg.Client> {
  const url = new URL(loadCliConfig(system.env).NURI_PG_URL);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

test('when the channel shows a deposit the core never applied, or still PENDING long after, then reconcile names each and exits 1', async () => {
  // Opening a core account is channel-user's call: the test presents its token.
  const token = environmentWithSecrets(system.env).NURI_INTERNAL_TOKEN_CHANNEL_USER;
  const userUuid = uuidv7();
  const opened = await fetch(`${system.env.NURI_CORE_PAYMENT_URL}/internal/v1/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userUuid }),
  });
  const { accountNo } = (await opened.json()) as { accountNo: string };
  const channel = await clientOf(system.env.NURI_CHANNEL_DB);
  // Ten minutes old: past the five minutes a deposit may still be on its way.
  const tenMinutesAgo = (tail: string) => `${uuidv7Floor(Date.now() - 10 * 60_000).slice(0, 24)}${tail}`;
  const completedId = tenMinutesAgo('00000000c0de');
  const pendingId = tenMinutesAgo('00000000beef');
  try {
    await channel.query('insert into account_links (account_no, user_uuid) values ($1, $2)', [
      accountNo,
      userUuid,
    ]);
    await channel.query(
      `insert into deposits (deposit_id, account_no, user_uuid, amount, status, balance_after, requested_at, settled_at,
                             next_resend_at)
       values ($1, $3, $4, 500, 'COMPLETED', 500, now(), now(), null),
              ($2, $3, $4, 700, 'PENDING', null, now(), null, now() + interval '1 hour')`,
      [completedId, pendingId, accountNo, userUuid],
    );
    const result = reconcile();
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /FAIL\s+COMPLETED in the channel = applied by the core\s+channel 1 \(₩500\), core 0 \(₩0\)/,
    );
    assert.ok(result.stdout.includes(`${completedId}: channel COMPLETED, core no record`));
    assert.match(result.stdout, /FAIL\s+none PENDING past 5 minutes \(they are re-sent\)\s+1 pending/);
    assert.ok(result.stdout.includes(`PENDING ${pendingId}: the core has no record of it`));
  } finally {
    await channel.query('delete from deposits where deposit_id = any($1::uuid[])', [
      [completedId, pendingId],
    ]);
    await channel.end();
  }
  const clean = reconcile();
  assert.equal(clean.status, 0, clean.stdout);
});

function cli(...args: string[]) {
  return spawnSync(process.execPath, [join(rootDir, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: system.env,
  });
}

test('when a deposit request was dead-lettered, then nuri dlq lists it, replays it once (audited) and the deposit completes', async () => {
  // Opening a core account is channel-user's call: the test presents its token.
  const token = environmentWithSecrets(system.env).NURI_INTERNAL_TOKEN_CHANNEL_USER;
  const userUuid = uuidv7();
  const opened = await fetch(`${system.env.NURI_CORE_PAYMENT_URL}/internal/v1/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userUuid }),
  });
  const { accountNo } = (await opened.json()) as { accountNo: string };
  const channel = await clientOf(system.env.NURI_CHANNEL_DB);
  const prefix = system.env.NURI_KAFKA_TOPIC_PREFIX ?? '';
  const depositId = uuidv7();
  const producer = createEventProducer({ brokers: ['127.0.0.1:9092'], clientId: 'e2e-dlq' });
  try {
    await channel.query('insert into account_links (account_no, user_uuid) values ($1, $2)', [
      accountNo,
      userUuid,
    ]);
    await channel.query(
      `insert into deposits (deposit_id, account_no, user_uuid, amount, status, requested_at)
       values ($1, $2, $3, 4200, 'PENDING', now())`,
      [depositId, accountNo, userUuid],
    );
    // As the core's consumer dead-letters a request it could not handle.
    const event = createEvent(
      'deposit.requested',
      { depositId, accountNo, userUuid, amount: 4_200, requestedAt: new Date().toISOString() },
      { source: 'channel-user', correlationId: 'e2e-dlq' },
    );
    await producer.sendRaw([
      {
        topic: `${prefix}deposit.requested.dlq`,
        key: accountNo,
        value: JSON.stringify(event),
        headers: {
          'x-dlq-error': 'Error: the ledger refused it then',
          'x-dlq-kind': 'handler',
          'x-dlq-topic': `${prefix}deposit.requested`,
          'x-dlq-partition': '0',
          'x-dlq-offset': '41',
          'x-dlq-group': 'core-payment.deposits',
          'x-dlq-failed-at': new Date().toISOString(),
        },
      },
    ]);
    const listed = cli('dlq', 'list');
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(
        `${prefix.replaceAll('.', '\\.')}deposit\\.requested\\.dlq/\\d+/\\d+\\s+deposit\\.requested ${event.id}`,
      ),
    );
    assert.match(listed.stdout, /the ledger refused it then/);
    assert.match(listed.stdout, /not replayed/);

    const replayed = cli('dlq', 'replay', '--all', 'deposit.requested');
    assert.equal(replayed.status, 0, replayed.stderr);
    assert.match(replayed.stderr, /replayed .*deposit\.requested\.dlq\/\d+\/\d+ → .*deposit\.requested/);
    const deadline = Date.now() + 30_000;
    let status = 'PENDING';
    while (status === 'PENDING' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = (await channel.query('select status from deposits where deposit_id = $1', [depositId])).rows[0]
        .status;
    }
    assert.equal(status, 'COMPLETED');

    const again = cli('dlq', 'replay', '--all', 'deposit.requested');
    assert.equal(again.status, 0);
    assert.match(again.stderr, /skipped .*replayed already at/);
    assert.doesNotMatch(again.stderr, /^nuri: replayed/m);
    assert.match(cli('dlq', 'list', 'deposit.requested').stdout, /replayed \d{4}-/);
  } finally {
    await producer.close();
    await channel.end();
  }
  const stuck = cli('payments', 'retry', '--stuck');
  assert.equal(stuck.status, 0, stuck.stderr);
  assert.match(stuck.stderr, /no payment is stuck/);
});

test('when a balance is changed directly in SQL, then reconcile names the account, prints MISMATCH and exits 1', async () => {
  // Opening a core account is channel-user's call: the test presents its token.
  const token = environmentWithSecrets(system.env).NURI_INTERNAL_TOKEN_CHANNEL_USER;
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
