import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { uuidv7 } from '@nuri/platform/ids';
import { rootDir } from '../src/cli/paths.ts';
import { environmentWithSecrets } from '../src/cli/secrets.ts';
import { type HttpAnswer, httpClient, startTestSystem, type TestSystem } from './harness.ts';

// Points, composite payments and coupons (docs/api.md) through the gateway of a
// whole system (e2e/harness.ts: its own ports, databases and topics), then
// `nuri reconcile` over what they left behind. The stories build on each
// other in file order: Alice's account and points carry from one to the next.

const settleTimeoutMs = 20_000;
const runFile = promisify(execFile);

let system: TestSystem;
let base: string;
let adminToken: string;
let internalToken: string;

const http = httpClient(() => base);

/** Polls `read` until `done` holds or the deadline passes; returns the last answer either way. */
async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = settleTimeoutMs,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(100);
  }
}

interface Customer {
  userUuid: string;
  token: string;
}

async function newCustomer(name: string): Promise<Customer> {
  const digit = () => randomBytes(1)[0]! % 10;
  const month = String(1 + (randomBytes(1)[0]! % 12)).padStart(2, '0');
  const day = String(1 + (randomBytes(1)[0]! % 28)).padStart(2, '0');
  const serial = Array.from({ length: 6 }, digit).join('');
  const loginId = `e2e_${randomBytes(6).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}-7`;
  const signup = await http('POST', '/api/v1/auth/signup', {
    body: { loginId, password, name, rrn: `8${digit()}${month}${day}-${1 + (digit() % 2)}${serial}` },
  });
  assert.equal(signup.status, 201, signup.text);
  const login = await http('POST', '/api/v1/auth/login', { body: { loginId, password } });
  assert.equal(login.status, 200, login.text);
  return { userUuid: signup.body.userUuid, token: login.body.accessToken };
}

async function openFundedAccount(customer: Customer, amount: number): Promise<string> {
  const opened = await http('POST', '/api/v1/accounts', { token: customer.token, body: {} });
  assert.equal(opened.status, 201, opened.text);
  const { accountNo } = opened.body;
  const accepted = await http('POST', `/api/v1/accounts/${accountNo}/deposits`, {
    token: customer.token,
    body: { amount },
  });
  assert.equal(accepted.status, 202, accepted.text);
  const settled = await pollUntil(
    () => http('GET', `/api/v1/deposits/${accepted.body.depositId}`, { token: customer.token }),
    (answer) => answer.body?.status !== 'PENDING',
  );
  assert.equal(settled.body.status, 'COMPLETED', settled.text);
  return accountNo;
}

async function pointBalance(customer: Customer): Promise<number> {
  const answer = await http('GET', '/api/v1/points', { token: customer.token });
  assert.equal(answer.status, 200, answer.text);
  return answer.body.balance;
}

async function accountBalance(customer: Customer, accountNo: string): Promise<number> {
  const answer = await http('GET', `/api/v1/accounts/${accountNo}`, { token: customer.token });
  assert.equal(answer.status, 200, answer.text);
  return answer.body.balance;
}

async function settledPayment(customer: Customer, paymentId: string): Promise<HttpAnswer> {
  return pollUntil(
    () => http('GET', `/api/v1/payments/${paymentId}`, { token: customer.token }),
    (answer) => answer.body?.status !== 'PENDING',
  );
}

/** `npx nuri reconcile` against this system: its exit code and everything it printed. */
async function runReconcile(): Promise<{ exitCode: number; output: string }> {
  const args = [join(rootDir, 'src', 'cli', 'main.ts'), 'reconcile'];
  try {
    const { stdout, stderr } = await runFile(process.execPath, args, { timeout: 30_000, env: system.env });
    return { exitCode: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

let alice: Customer;
let bob: Customer;
let aliceAccount: string;

before(async () => {
  system = await startTestSystem();
  base = system.gatewayUrl;
  const secrets = environmentWithSecrets(system.env);
  adminToken = secrets.NURI_ADMIN_TOKEN!;
  internalToken = secrets.NURI_INTERNAL_TOKEN_OPS!;
  alice = await newCustomer('Alice Kim');
  bob = await newCustomer('Bob Lee');
  aliceAccount = await openFundedAccount(alice, 10_000);
});

after(async () => {
  await system?.shutdown();
});

describe('points', () => {
  test('when a user has never charged, then the balance is 0 and the history is empty', async () => {
    assert.equal(await pointBalance(alice), 0);
    const history = await http('GET', '/api/v1/points/history', { token: alice.token });
    assert.equal(history.status, 200, history.text);
    assert.deepEqual(history.body, { items: [], nextCursor: null });
  });

  test('when points are charged, then the balance grows, a CHARGE row is written, and a replay with the same key changes nothing', async () => {
    const charge = () =>
      http('POST', '/api/v1/points/charge', {
        token: alice.token,
        headers: { 'idempotency-key': 'charge-5000' },
        body: { amount: 5_000 },
      });

    const first = await charge();
    const replay = await charge();

    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, { balance: 5_000 });
    assert.equal(replay.status, 200, replay.text);
    assert.deepEqual(replay.body, first.body);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(await pointBalance(alice), 5_000);
    const history = await http('GET', '/api/v1/points/history', { token: alice.token });
    assert.equal(history.body.items.length, 1);
    assert.equal(history.body.items[0].type, 'CHARGE');
    assert.equal(history.body.items[0].amount, 5_000);
    assert.equal(history.body.items[0].balanceAfter, 5_000);

    // The key is Alice's, not the route's: on a withdrawal (channel-user's) it is a reuse, and nothing moves.
    const reused = await http('POST', `/api/v1/accounts/${aliceAccount}/withdrawals`, {
      token: alice.token,
      headers: { 'idempotency-key': 'charge-5000' },
      body: { amount: 5_000 },
    });
    assert.equal(reused.status, 422, reused.text);
    assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');
    const account = await http('GET', `/api/v1/accounts/${aliceAccount}`, { token: alice.token });
    assert.equal(account.body.balance, 10_000, 'nothing debited');
  });

  test('when the amount is not an integer in 1..1,000,000, then 400 VALIDATION_FAILED and the balance is unchanged', async () => {
    for (const amount of [0, -1, 1.5, '100', null, 1_000_001]) {
      const answer = await http('POST', '/api/v1/points/charge', { token: alice.token, body: { amount } });
      assert.equal(answer.status, 400, `amount ${JSON.stringify(amount)}: ${answer.text}`);
      assert.equal(answer.body.code, 'VALIDATION_FAILED');
    }
    const missing = await http('POST', '/api/v1/points/charge', { token: alice.token, body: {} });
    assert.equal(missing.status, 400);
    assert.equal(await pointBalance(alice), 5_000);
  });

  test('when no access token is sent, then 401 UNAUTHENTICATED', async () => {
    const answer = await http('GET', '/api/v1/points');
    assert.equal(answer.status, 401);
    assert.equal(answer.body.code, 'UNAUTHENTICATED');
  });
});

describe('composite payments', () => {
  const completedOrderId = `order-${randomBytes(4).toString('hex')}`;

  test('when the account covers the cash, then the payment COMPLETES, the points are used once and the cash is debited', async () => {
    const accepted = await http('POST', '/api/v1/payments', {
      token: alice.token,
      body: { accountNo: aliceAccount, cashAmount: 3_000, pointAmount: 1_000, orderId: completedOrderId },
    });
    assert.equal(accepted.status, 202, accepted.text);
    assert.equal(accepted.body.status, 'PENDING');
    assert.equal(accepted.body.orderId, completedOrderId);

    const settled = await settledPayment(alice, accepted.body.paymentId);

    assert.equal(settled.body.status, 'COMPLETED', settled.text);
    assert.equal(await pointBalance(alice), 4_000);
    assert.equal(await accountBalance(alice, aliceAccount), 7_000);
    const history = await http('GET', '/api/v1/points/history', { token: alice.token });
    const rows = history.body.items.filter(
      (item: { paymentId?: string }) => item.paymentId === accepted.body.paymentId,
    );
    assert.deepEqual(
      rows.map((row: { type: string; amount: number }) => [row.type, row.amount]),
      [['USE', 1_000]],
    );
  });

  test('when the account does not cover the cash, then the payment FAILS with INSUFFICIENT_BALANCE and the points come back as a REFUND', async () => {
    const accepted = await http('POST', '/api/v1/payments', {
      token: alice.token,
      body: { accountNo: aliceAccount, cashAmount: 50_000_000, pointAmount: 500 },
    });
    assert.equal(accepted.status, 202, accepted.text);

    const settled = await settledPayment(alice, accepted.body.paymentId);

    assert.equal(settled.body.status, 'FAILED', settled.text);
    assert.equal(settled.body.failureCode, 'INSUFFICIENT_BALANCE');
    assert.equal(await pointBalance(alice), 4_000);
    assert.equal(await accountBalance(alice, aliceAccount), 7_000);
    const history = await http('GET', '/api/v1/points/history', { token: alice.token });
    const rows = history.body.items.filter(
      (item: { paymentId?: string }) => item.paymentId === accepted.body.paymentId,
    );
    assert.deepEqual(rows.map((row: { type: string; amount: number }) => [row.type, row.amount]).sort(), [
      ['REFUND', 500],
      ['USE', 500],
    ]);
    assert.equal(history.body.items[0].type, 'REFUND', 'the refund is the newest row');
    assert.equal(history.body.items[0].balanceAfter, 4_000);
  });

  test('when the points do not cover pointAmount, then 409 INSUFFICIENT_POINTS and nothing moves', async () => {
    const answer = await http('POST', '/api/v1/payments', {
      token: alice.token,
      body: { accountNo: aliceAccount, cashAmount: 100, pointAmount: 999_999 },
    });
    assert.equal(answer.status, 409, answer.text);
    assert.equal(answer.body.code, 'INSUFFICIENT_POINTS');
    assert.equal(await pointBalance(alice), 4_000);
    assert.equal(await accountBalance(alice, aliceAccount), 7_000);
  });

  test("when a user pays from another user's account, then 404 ACCOUNT_NOT_FOUND", async () => {
    const answer = await http('POST', '/api/v1/payments', {
      token: bob.token,
      body: { accountNo: aliceAccount, cashAmount: 100, pointAmount: 0 },
    });
    assert.equal(answer.status, 404, answer.text);
    assert.equal(answer.body.code, 'ACCOUNT_NOT_FOUND');
    assert.equal(await accountBalance(alice, aliceAccount), 7_000);
  });

  test('when the orderId was used before, then 409 DUPLICATE_ORDER and nothing moves', async () => {
    const answer = await http('POST', '/api/v1/payments', {
      token: alice.token,
      body: { accountNo: aliceAccount, cashAmount: 100, pointAmount: 100, orderId: completedOrderId },
    });
    assert.equal(answer.status, 409, answer.text);
    assert.equal(answer.body.code, 'DUPLICATE_ORDER');
    assert.equal(await pointBalance(alice), 4_000);
  });
});

describe('coupons', () => {
  let campaignId: string;
  let aliceCouponId: string;
  const campaignBody = { name: 'E2E first come', quantity: 1 };

  test('when an admin creates a campaign, then 201 — and 401 without the admin token, 403 with a wrong one', async () => {
    const missing = await http('POST', '/api/v1/admin/coupon-campaigns', { body: campaignBody });
    assert.equal(missing.status, 401, missing.text);
    const wrong = await http('POST', '/api/v1/admin/coupon-campaigns', {
      token: alice.token,
      body: campaignBody,
    });
    assert.equal(wrong.status, 403, wrong.text);

    const created = await http('POST', '/api/v1/admin/coupon-campaigns', {
      token: adminToken,
      body: campaignBody,
    });

    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.quantity, 1);
    campaignId = created.body.campaignId;
    const read = await http('GET', `/api/v1/coupon-campaigns/${campaignId}`, { token: alice.token });
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.body, {
      campaignId,
      name: campaignBody.name,
      quantity: 1,
      remaining: 1,
      issued: 0,
      startsAt: null,
      endsAt: null,
    });
  });

  test('when a user claims a coupon, then 201, and a second claim is 409 ALREADY_ISSUED naming it', async () => {
    const issued = await http('POST', `/api/v1/coupon-campaigns/${campaignId}/issue`, { token: alice.token });
    assert.equal(issued.status, 201, issued.text);
    assert.equal(issued.body.campaignId, campaignId);
    aliceCouponId = issued.body.couponId;

    const again = await http('POST', `/api/v1/coupon-campaigns/${campaignId}/issue`, { token: alice.token });

    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.code, 'ALREADY_ISSUED');
    assert.equal(again.body.couponId, aliceCouponId);
  });

  test('when the stock is gone, then the next user gets 410 SOLD_OUT and the campaign says so', async () => {
    const answer = await http('POST', `/api/v1/coupon-campaigns/${campaignId}/issue`, { token: bob.token });
    assert.equal(answer.status, 410, answer.text);
    assert.equal(answer.body.code, 'SOLD_OUT');
    const read = await http('GET', `/api/v1/coupon-campaigns/${campaignId}`, { token: bob.token });
    assert.equal(read.body.remaining, 0);
    assert.equal(read.body.issued, 1);
  });

  test("when a user lists their coupons, then the claimed one is there and nobody else's", async () => {
    const mine = await http('GET', '/api/v1/coupons', { token: alice.token });
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(
      mine.body.items.map((item: { couponId: string; campaignId: string }) => [
        item.couponId,
        item.campaignId,
      ]),
      [[aliceCouponId, campaignId]],
    );
    const theirs = await http('GET', '/api/v1/coupons', { token: bob.token });
    assert.deepEqual(theirs.body.items, []);
  });

  test('when the campaign does not exist, then 404 CAMPAIGN_NOT_FOUND', async () => {
    const unknown = uuidv7();
    for (const [method, path] of [
      ['GET', `/api/v1/coupon-campaigns/${unknown}`],
      ['POST', `/api/v1/coupon-campaigns/${unknown}/issue`],
    ] as const) {
      const answer = await http(method, path, { token: alice.token });
      assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
      assert.equal(answer.body.code, 'CAMPAIGN_NOT_FOUND');
    }
  });

  test('when no access token is sent, then every user coupon route is 401 UNAUTHENTICATED', async () => {
    for (const [method, path] of [
      ['GET', `/api/v1/coupon-campaigns/${campaignId}`],
      ['POST', `/api/v1/coupon-campaigns/${campaignId}/issue`],
      ['GET', '/api/v1/coupons'],
    ] as const) {
      const answer = await http(method, path);
      assert.equal(answer.status, 401, `${method} ${path}: ${answer.text}`);
      assert.equal(answer.body.code, 'UNAUTHENTICATED');
    }
  });
});

describe('reconciliation', () => {
  test('when the coupon is recorded in the core, then nuri reconcile agrees on every check and exits 0', async () => {
    const couponReport = () =>
      fetch(`${system.env.NURI_COUPON_URL}/internal/v1/reconciliation`, {
        headers: { authorization: `Bearer ${internalToken}` },
      }).then(
        (response) =>
          response.json() as Promise<{
            campaigns: Array<{ recordedInCore: number; pending: number; issuedInRedis: number }>;
          }>,
      );
    const report = await pollUntil(couponReport, (body) =>
      body.campaigns.every((campaign) => campaign.recordedInCore === 1 && campaign.pending === 0),
    );
    assert.deepEqual(
      report.campaigns.map((c) => [c.issuedInRedis, c.recordedInCore, c.pending]),
      [[1, 1, 0]],
    );

    const { exitCode, output } = await runReconcile();

    assert.equal(exitCode, 0, output);
    assert.match(
      output,
      /OK {2}\s+coupons issued in Redis = recorded in the core\s+0 mismatches of 1 campaigns/,
    );
    assert.match(output, /OK {2}\s+every payment terminal or younger than its timeout/);
    assert.match(output, /RECONCILED\n$/);
  });
});
