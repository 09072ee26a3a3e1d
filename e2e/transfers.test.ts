import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { luhnCheckDigit } from '@nuri/contracts/account-number';
import { reconciliationChecks } from '../src/cli/commands/reconcile.ts';
import { loadCliConfig } from '../src/cli/config.ts';
import { environmentWithSecrets } from '../src/cli/secrets.ts';
import { startTestSystem, type TestSystem } from './harness.ts';
import { type Answer, BankClient, type Customer, newCustomer, newKey, settledDeposit } from './workload.ts';

// Transfers (이체) through the gateway against the real system: docs/api.md's
// statuses and codes, the daily limit and the ring under concurrency, both
// statements, reconciliation, and no PII in the channel zone's logs.

process.env.NURI_E2E_LOG_LEVEL ??= 'info';
const channelZone = new Set(['gateway', 'channel-user', 'point', 'coupon']);

let system: TestSystem;
let client: BankClient;
const logLines: Array<{ service: string; line: string }> = [];
/** Every customer this suite creates, with the masked name signup answered. */
const customers: Array<Customer & { maskedName: string }> = [];

before(async () => {
  system = await startTestSystem({
    onOutputLine: (service, line) => {
      logLines.push({ service, line });
      if (/"level":(40|50|60)/.test(line) || !line.startsWith('{'))
        process.stdout.write(`${service} | ${line}\n`);
    },
  });
  client = new BankClient(system.gatewayUrl);
});

after(async () => {
  await system?.shutdown();
});

async function customer(cash = 0): Promise<Customer & { maskedName: string }> {
  const created = await newCustomer(client);
  const me = await client.careful('GET', '/api/v1/me', { token: created.token });
  const withName = { ...created, maskedName: me.body.maskedName as string };
  customers.push(withName);
  if (cash > 0) {
    const accepted = await client.careful('POST', `/api/v1/accounts/${created.accountNo}/deposits`, {
      token: created.token,
      body: { amount: cash },
      key: newKey('fund'),
    });
    assert.equal(accepted.status, 202, accepted.text);
    const settled = await settledDeposit(client, created, accepted.body.depositId, 120_000);
    assert.equal(settled.body.status, 'COMPLETED', settled.text);
  }
  return withName;
}

function send(
  from: Customer,
  to: { accountNo: string },
  amount: number,
  extra: { memo?: string; key?: string } = {},
) {
  return client.send('POST', '/api/v1/transfers', {
    token: from.token,
    key: extra.key ?? newKey('tr'),
    body: {
      fromAccountNo: from.accountNo,
      toAccountNo: to.accountNo,
      amount,
      ...(extra.memo === undefined ? {} : { memo: extra.memo }),
    },
  });
}

async function balanceOf(who: Customer): Promise<number> {
  const account = await client.careful('GET', `/api/v1/accounts/${who.accountNo}`, { token: who.token });
  assert.equal(account.status, 200, account.text);
  return account.body.balance;
}

function codeOf(answer: Answer): string {
  return `${answer.status} ${answer.body?.code ?? ''}`.trim();
}

/** A well-formed number (right check digit) that no account has. */
function unknownAccountNo(): string {
  const payload = `9${String(randomInt(10_000_000_000)).padStart(10, '0')}`;
  const digits = `${payload}${luhnCheckDigit(payload)}`;
  return `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
}

describe('transfers through the gateway', () => {
  let alice: Customer & { maskedName: string };
  let bob: Customer & { maskedName: string };
  before(async () => {
    alice = await customer(10_000);
    bob = await customer(0);
  });

  test('when the sender looks the recipient up, then the holder’s masked name and the bank come back; an unknown number is 404 RECIPIENT_NOT_FOUND', async () => {
    const found = await client.send('GET', `/api/v1/transfer-recipients/${bob.accountNo}`, {
      token: alice.token,
    });
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(found.body, {
      accountNo: bob.accountNo,
      holderMaskedName: bob.maskedName,
      bank: 'NURI',
    });
    assert.notEqual(found.body.holderMaskedName, bob.person.name);
    const missing = await client.send('GET', `/api/v1/transfer-recipients/${unknownAccountNo()}`, {
      token: alice.token,
    });
    assert.equal(codeOf(missing), '404 RECIPIENT_NOT_FOUND');
    const anonymous = await client.send('GET', `/api/v1/transfer-recipients/${bob.accountNo}`);
    assert.equal(codeOf(anonymous), '401 UNAUTHENTICATED');
  });

  test('when money is sent, then 200 with the sender’s balance, both statements show it with the other side masked and the memo, and a repeat with the key is replayed', async () => {
    const key = newKey('tr');
    const sent = await send(alice, bob, 3_000, { memo: '저녁값', key });
    assert.equal(sent.status, 200, sent.text);
    assert.deepEqual(Object.keys(sent.body).sort(), [
      'amount',
      'balanceAfter',
      'createdAt',
      'fromAccountNo',
      'memo',
      'toAccountNo',
      'transferId',
    ]);
    assert.deepEqual([sent.body.amount, sent.body.balanceAfter, sent.body.memo], [3_000, 7_000, '저녁값']);
    const replay = await send(alice, bob, 3_000, { memo: '저녁값', key });
    assert.equal(replay.status, 200);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(replay.body, sent.body);
    const reused = await send(alice, bob, 2_999, { memo: '저녁값', key });
    assert.equal(codeOf(reused), '422 IDEMPOTENCY_KEY_REUSED');
    assert.equal(await balanceOf(alice), 7_000);
    assert.equal(await balanceOf(bob), 3_000);

    const out = await client.careful('GET', `/api/v1/accounts/${alice.accountNo}/transactions`, {
      token: alice.token,
    });
    assert.deepEqual(
      {
        type: out.body.items[0].type,
        amount: out.body.items[0].amount,
        memo: out.body.items[0].memo,
        counterparty: out.body.items[0].counterparty,
      },
      {
        type: 'TRANSFER_OUT',
        amount: 3_000,
        memo: '저녁값',
        counterparty: { maskedName: bob.maskedName, accountNoLast4: bob.accountNo.slice(-4) },
      },
    );
    const into = await client.careful('GET', `/api/v1/accounts/${bob.accountNo}/transactions`, {
      token: bob.token,
    });
    assert.deepEqual(
      {
        type: into.body.items[0].type,
        balanceAfter: into.body.items[0].balanceAfter,
        counterparty: into.body.items[0].counterparty,
      },
      {
        type: 'TRANSFER_IN',
        balanceAfter: 3_000,
        counterparty: { maskedName: alice.maskedName, accountNoLast4: alice.accountNo.slice(-4) },
      },
    );

    const read = await client.send('GET', `/api/v1/transfers/${sent.body.transferId}`, {
      token: alice.token,
    });
    assert.deepEqual(read.body, sent.body);
    const notBobs = await client.send('GET', `/api/v1/transfers/${sent.body.transferId}`, {
      token: bob.token,
    });
    assert.equal(codeOf(notBobs), '404 TRANSFER_NOT_FOUND');
  });

  test('when a transfer cannot be made, then each of docs/api.md’s refusals comes back with its code and nothing moves', async () => {
    const before = [await balanceOf(alice), await balanceOf(bob)];
    const cases: Array<[Answer, string]> = [
      [await send(alice, bob, 1_000_000), '409 INSUFFICIENT_BALANCE'],
      [await send(alice, { accountNo: unknownAccountNo() }, 1), '404 RECIPIENT_NOT_FOUND'],
      [await send(alice, alice, 1), '400 VALIDATION_FAILED'],
      [await send(alice, bob, 0), '400 VALIDATION_FAILED'],
      [
        await send(alice, bob, 1, { memo: '이 메모는 스무 글자를 훌쩍 넘는 아주 긴 메모입니다' }),
        '400 VALIDATION_FAILED',
      ],
      [
        await client.send('POST', '/api/v1/transfers', {
          token: alice.token,
          key: newKey('tr'),
          body: { fromAccountNo: bob.accountNo, toAccountNo: alice.accountNo, amount: 1 },
        }),
        '404 ACCOUNT_NOT_FOUND',
      ],
    ];
    for (const [answer, expected] of cases) {
      assert.equal(codeOf(answer), expected, answer.text);
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    }
    assert.deepEqual([await balanceOf(alice), await balanceOf(bob)], before);
  });

  test('when eight ₩1,000,000 transfers race against the ₩5,000,000 daily limit, then exactly five pass and three are 409 DAILY_LIMIT_EXCEEDED', async () => {
    const rich = await customer(9_000_000);
    const carol = await customer(0);
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(rich, carol, 1_000_000)));
    const codes = answers.map(codeOf).sort();
    assert.deepEqual(
      codes,
      [...Array(5).fill('200'), ...Array(3).fill('409 DAILY_LIMIT_EXCEEDED')].sort(),
      codes.join(),
    );
    assert.equal(await balanceOf(carol), 5_000_000);
    assert.equal(await balanceOf(rich), 4_000_000);
  });

  test('when 100 transfers race around a ring of 10 accounts, A→B against B→A among them, then none fails but for funds, none goes negative, and the total is unchanged', async () => {
    const ring = await Promise.all(Array.from({ length: 10 }, () => customer(10_000)));
    const planned = Array.from({ length: 100 }, (_, index) => ({
      from: ring[index % 10]!,
      to: ring[(index % 5 === 0 ? index + 9 : index + 1) % 10]!,
      amount: randomInt(1, 3_000),
    }));
    const answers = await Promise.all(
      planned.map(({ from, to, amount }) =>
        client.careful('POST', '/api/v1/transfers', {
          token: from.token,
          key: newKey('ring'),
          body: { fromAccountNo: from.accountNo, toAccountNo: to.accountNo, amount },
        }),
      ),
    );
    const expected = new Map(ring.map((member) => [member.accountNo, 10_000]));
    answers.forEach((answer, index) => {
      if (answer.status === 409 && answer.body.code === 'INSUFFICIENT_BALANCE') return;
      assert.equal(answer.status, 200, answer.text);
      const { from, to, amount } = planned[index]!;
      expected.set(from.accountNo, expected.get(from.accountNo)! - amount);
      expected.set(to.accountNo, expected.get(to.accountNo)! + amount);
    });
    let total = 0;
    for (const member of ring) {
      const balance = await balanceOf(member);
      assert.ok(balance >= 0);
      assert.equal(balance, expected.get(member.accountNo));
      total += balance;
    }
    assert.equal(total, 100_000);
  });

  test('when one user looks up more than 30 recipients in a minute, then 429 RATE_LIMITED with Retry-After', async () => {
    const prober = await customer(0);
    const statuses: number[] = [];
    for (let index = 0; index < 31; index += 1) {
      const target = index % 3 === 0 ? bob.accountNo : unknownAccountNo();
      statuses.push(
        (await client.send('GET', `/api/v1/transfer-recipients/${target}`, { token: prober.token })).status,
      );
    }
    assert.ok(
      statuses.slice(0, 30).every((status) => status === 200 || status === 404),
      statuses.join(),
    );
    const limited = await client.send('GET', `/api/v1/transfer-recipients/${bob.accountNo}`, {
      token: prober.token,
    });
    assert.equal(codeOf(limited), '429 RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });

  test('when core-payment is down, then a transfer is 503 CORE_UNAVAILABLE, and the same key after it is back moves the money once', async () => {
    const key = newKey('down');
    const before = await balanceOf(bob);
    await system.stopService('core-payment');
    try {
      const refused = await send(alice, bob, 100, { key });
      assert.equal(codeOf(refused), '503 CORE_UNAVAILABLE');
    } finally {
      system.startService('core-payment');
      await system.waitUntilReady('core-payment', 60_000);
    }
    const sent = await client.careful('POST', '/api/v1/transfers', {
      token: alice.token,
      key,
      body: { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 100 },
    });
    assert.equal(sent.status, 200, sent.text);
    assert.equal(await balanceOf(bob), before + 100);
  });

  test('then nuri reconcile agrees: balances, ledger, money supply and transfer records', async () => {
    const token = environmentWithSecrets(system.env).NURI_INTERNAL_TOKEN_OPS!;
    const services = await reconciliationChecks(loadCliConfig(system.env), token);
    const failing = services.flatMap(({ service, checks }) =>
      checks
        .filter((check) => !check.ok)
        .map((check) => `${service}: ${check.label} ${check.findings.join(' ')}`),
    );
    assert.deepEqual(failing, []);
    const supply = services
      .find(({ service }) => service === 'core-payment')!
      .checks.find((check) => check.label.startsWith('Σ balances'))!;
    assert.match(supply.summary, /transfers ₩[1-9]\d* out/);
  });

  test('then no channel-zone log line holds a customer’s name, RRN or phone', () => {
    const secrets = customers.flatMap(({ person }) => [
      person.name,
      person.rrn,
      person.rrn.replace('-', ''),
      person.phone,
    ]);
    const channelLines = logLines.filter((entry) => channelZone.has(entry.service));
    assert.ok(
      channelLines.some((entry) => entry.line.includes('transfer sent')),
      'the transfers were logged',
    );
    for (const { service, line } of channelLines) {
      const found = secrets.find((secret) => line.includes(secret));
      assert.equal(found, undefined, `${service} logged PII`);
    }
  });
});
