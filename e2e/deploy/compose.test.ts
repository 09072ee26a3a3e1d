import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePorts } from '@nuri/platform/testing';
import { imageTargets } from '../../src/cli/commands/images.ts';
import { findEngine } from '../../src/cli/deploy/engine.ts';
import { ensureKafkaJars, kafkaJarsPresent } from '../../src/cli/infra/kafka.ts';
import { rootDir } from '../../src/cli/paths.ts';
import { ensureDevSecrets } from '../../src/cli/secrets.ts';
import { buildImages, engineFor, testImageTag } from '../../test/deploy/containers.ts';
import {
  BankClient,
  type Customer,
  newCustomer,
  newKey,
  settledDeposit,
  settledPayment,
} from '../workload.ts';

// The whole bank in containers (deploy/compose/system.yaml) through
// `npx nuri compose up`: infrastructure, the one-shot setup, every service
// and the gateway, each from the images of this tree, under a project name
// and on loopback ports of its own (a developer's `nuri compose up` or
// `npm start` is left alone). A customer signs up, deposits, withdraws, pays
// with points and cash, and wins a coupon through the containerised gateway;
// then `nuri compose down --volumes` removes it all. Where no container
// engine exists the test says so and is skipped (under CI it fails: .ci/run
// installs podman).

const project = `nuri-e2e-${process.pid}`;
const logDir = join(rootDir, 'test-artifacts', 'deploy');
const settleTimeoutMs = 30_000;
let env: NodeJS.ProcessEnv | undefined;
let client: BankClient;
let upError: Error | undefined;

function nuri(args: string[], log: string, timeoutMs: number): Promise<number> {
  mkdirSync(logDir, { recursive: true });
  const output = openSync(join(logDir, log), 'w');
  const child = spawn(process.execPath, ['bin/nuri.mjs', ...args], {
    cwd: rootDir,
    env,
    stdio: ['ignore', output, output],
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    }),
  );
}

describe('the bank under nuri compose', () => {
  before(
    async () => {
      // Without an engine the tests below say so (and fail under CI).
      if ('missing' in findEngine()) return;
      // infra up fetches them only when it starts the broker itself; one may already run here.
      if (!kafkaJarsPresent()) await ensureKafkaJars();
      const [gatewayPort, opsPort] = (await freePorts(2)) as [number, number];
      env = {
        ...process.env,
        NURI_COMPOSE_PROJECT: project,
        NURI_IMAGE_TAG: testImageTag,
        NURI_COMPOSE_GATEWAY_PORT: String(gatewayPort),
        NURI_COMPOSE_GATEWAY_OPS_PORT: String(opsPort),
      };
      await buildImages(imageTargets, 'compose-build.log');
      const code = await nuri(['compose', 'up', '--no-build'], 'compose-up.log', 12 * 60_000);
      if (code !== 0)
        upError = new Error(`nuri compose up exited ${code}: see test-artifacts/deploy/compose-up.log`);
      client = new BankClient(`http://127.0.0.1:${gatewayPort}`);
    },
    { timeout: 40 * 60_000 },
  );

  after(
    async () => {
      if (env === undefined) return;
      const code = await nuri(['compose', 'down', '--volumes'], 'compose-down.log', 5 * 60_000);
      assert.equal(code, 0, 'nuri compose down failed: see test-artifacts/deploy/compose-down.log');
    },
    { timeout: 6 * 60_000 },
  );

  let alice: Customer;

  it('when it is up, then GET /health through the gateway finds every service ready', async (t) => {
    if (engineFor(t) === undefined) return;
    if (upError !== undefined) throw upError;
    const health = await client.send('GET', '/health');
    assert.equal(health.status, 200, health.text);
    assert.equal(health.body.status, 'ok');
  });

  it('when a customer signs up and opens an account, then it works through the containerised gateway', async (t) => {
    if (env === undefined || upError !== undefined) return t.skip('the system is not up');
    alice = await newCustomer(client);
    assert.match(alice.accountNo, /^\d{3}-\d{3}-\d{6}$/);
  });

  it('when they deposit 10,000 and withdraw 3,000, then the deposit completes through Kafka and the balance is 7,000', async (t) => {
    if (alice === undefined) return t.skip('no customer');
    const deposit = await client.careful('POST', `/api/v1/accounts/${alice.accountNo}/deposits`, {
      token: alice.token,
      key: newKey('deposit'),
      body: { amount: 10_000 },
    });
    assert.equal(deposit.status, 202, deposit.text);
    const settled = await settledDeposit(client, alice, deposit.body.depositId, settleTimeoutMs);
    assert.equal(settled.body.status, 'COMPLETED', settled.text);
    const withdrawal = await client.careful('POST', `/api/v1/accounts/${alice.accountNo}/withdrawals`, {
      token: alice.token,
      key: newKey('withdraw'),
      body: { amount: 3_000 },
    });
    assert.equal(withdrawal.status, 200, withdrawal.text);
    assert.equal(withdrawal.body.balanceAfter, 7_000);
  });

  it('when they pay 1,000 cash and 500 points, then the saga completes across point, Kafka and the core', async (t) => {
    if (alice === undefined) return t.skip('no customer');
    const charge = await client.careful('POST', '/api/v1/points/charge', {
      token: alice.token,
      key: newKey('charge'),
      body: { amount: 2_000 },
    });
    assert.ok(charge.status >= 200 && charge.status < 300, charge.text);
    const payment = await client.careful('POST', '/api/v1/payments', {
      token: alice.token,
      key: newKey('pay'),
      body: { accountNo: alice.accountNo, cashAmount: 1_000, pointAmount: 500, orderId: newKey('order') },
    });
    assert.equal(payment.status, 202, payment.text);
    const settled = await settledPayment(client, alice, payment.body.paymentId, settleTimeoutMs);
    assert.equal(settled.body.status, 'COMPLETED', settled.text);
    const account = await client.send('GET', `/api/v1/accounts/${alice.accountNo}`, { token: alice.token });
    assert.equal(account.body.balance, 6_000, account.text);
    const points = await client.send('GET', '/api/v1/points', { token: alice.token });
    assert.equal(points.body.balance, 1_500, points.text);
  });

  it('when an admin opens a campaign and they claim a coupon, then it is theirs', async (t) => {
    if (alice === undefined) return t.skip('no customer');
    const campaign = await client.careful('POST', '/api/v1/admin/coupon-campaigns', {
      token: ensureDevSecrets().NURI_ADMIN_TOKEN,
      body: { name: 'compose e2e', quantity: 1 },
    });
    assert.equal(campaign.status, 201, campaign.text);
    const issued = await client.careful(
      'POST',
      `/api/v1/coupon-campaigns/${campaign.body.campaignId}/issue`,
      {
        token: alice.token,
      },
    );
    assert.equal(issued.status, 201, issued.text);
    const mine = await client.send('GET', '/api/v1/coupons', { token: alice.token });
    assert.deepEqual(
      mine.body.items.map((item: { couponId: string }) => item.couponId),
      [issued.body.couponId],
    );
  });
});
