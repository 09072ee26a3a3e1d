import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { reconciliationChecks } from '../../src/cli/commands/reconcile.ts';
import { loadCliConfig } from '../../src/cli/config.ts';
import { CliError } from '../../src/cli/log.ts';
import { environmentWithSecrets } from '../../src/cli/secrets.ts';
import { startTestSystem, type TestSystem } from '../harness.ts';
import {
  type Answer,
  BankClient,
  type Customer,
  newCustomer,
  newKey,
  newPerson,
  settledDeposit,
} from '../workload.ts';

// The zones fail separately: with one instance of everything, the core zone
// is killed (SIGKILL) and then stopped (SIGSTOP, a hung process) while
// customers keep using the channel. Channel-only routes keep answering; the
// ones that need the core answer 503 CORE_UNAVAILABLE quickly; and what the
// channel accepted meanwhile completes once the core is back.

let system: TestSystem;
let client: BankClient;
let adminToken: string;
let internalToken: string;

before(async () => {
  system = await startTestSystem();
  client = new BankClient(system.gatewayUrl);
  const secrets = environmentWithSecrets(system.env);
  adminToken = secrets.NURI_ADMIN_TOKEN!;
  internalToken = secrets.NURI_INTERNAL_TOKEN_OPS!;
});

after(async () => {
  await system?.shutdown();
});

async function deposit(customer: Customer, amount: number): Promise<Answer> {
  return client.send('POST', `/api/v1/accounts/${customer.accountNo}/deposits`, {
    token: customer.token,
    body: { amount },
    key: newKey('dep'),
  });
}

async function balanceOf(customer: Customer): Promise<number> {
  const account = await client.careful('GET', `/api/v1/accounts/${customer.accountNo}`, {
    token: customer.token,
  });
  assert.equal(account.status, 200, account.text);
  return account.body.balance;
}

/**
 * Every service's reconciliation is clean. A service that cannot ask the core
 * yet (exit 2: it took the core out while it was away and re-admits it only
 * after its own readiness probe, once a second) is asked again for up to 15 s;
 * a mismatch is never retried.
 */
async function assertReconciled(): Promise<void> {
  const deadline = Date.now() + 15_000;
  let services: Awaited<ReturnType<typeof reconciliationChecks>>;
  for (;;) {
    try {
      services = await reconciliationChecks(loadCliConfig(system.env), internalToken);
      break;
    } catch (error) {
      if (!(error instanceof CliError && error.exitCode === 2) || Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
  const problems = services.flatMap(({ service, checks }) =>
    checks.filter((check) => !check.ok).map((check) => `${service}: ${check.label}`),
  );
  assert.deepEqual(problems, []);
}

/** Timed answers of the channel-only routes while the core is away. */
interface ChannelProbe {
  route: string;
  status: number;
  ms: number;
}

/** Exercises every route that must not need the core, once. */
async function useChannelOnly(
  customer: Customer,
  campaignId: string,
  accepted: string[],
): Promise<ChannelProbe[]> {
  const timed = async (route: string, call: () => Promise<Answer>) => {
    const started = Date.now();
    const answer = await call();
    if (route === 'deposit' && answer.status === 202) accepted.push(answer.body.depositId);
    return { route, status: answer.status, ms: Date.now() - started };
  };
  return [
    await timed('login', () =>
      client.send('POST', '/api/v1/auth/login', {
        body: { loginId: customer.person.loginId, password: customer.person.password },
      }),
    ),
    await timed('refresh', async () => {
      const answer = await client.send('POST', '/api/v1/auth/refresh', {
        body: { refreshToken: customer.refreshToken },
      });
      if (answer.status === 200) customer.refreshToken = answer.body.refreshToken;
      return answer;
    }),
    await timed('me', () => client.send('GET', '/api/v1/me', { token: customer.token })),
    await timed('deposit', () => deposit(customer, 10)),
    await timed('point charge', () =>
      client.send('POST', '/api/v1/points/charge', {
        token: customer.token,
        body: { amount: 5 },
        key: newKey('charge'),
      }),
    ),
    await timed('point history', () =>
      client.send('GET', '/api/v1/points/history', { token: customer.token }),
    ),
    await timed('coupon issue', () =>
      client.send('POST', `/api/v1/coupon-campaigns/${campaignId}/issue`, { token: customer.token }),
    ),
  ];
}

/**
 * The routes that need the core (503 CORE_UNAVAILABLE, fast): calls a route of
 * each core service once; each withdrawal's Idempotency-Key goes into `withdrawalKeys`.
 */
async function useCore(
  customer: Customer,
  withdrawalKeys: string[],
): Promise<Array<{ route: string; answer: Answer; ms: number }>> {
  const timed = async (route: string, call: () => Promise<Answer>) => {
    const started = Date.now();
    const answer = await call();
    return { route, answer, ms: Date.now() - started };
  };
  const person = newPerson();
  const withdrawalKey = newKey('wd');
  withdrawalKeys.push(withdrawalKey);
  return [
    await timed('withdraw', () =>
      client.send('POST', `/api/v1/accounts/${customer.accountNo}/withdrawals`, {
        token: customer.token,
        body: { amount: 1 },
        key: withdrawalKey,
      }),
    ),
    await timed('signup', () =>
      client.send('POST', '/api/v1/auth/signup', {
        body: { loginId: person.loginId, password: person.password, name: person.name, rrn: person.rrn },
      }),
    ),
    await timed('open account', () =>
      client.send('POST', '/api/v1/accounts', { token: customer.token, body: {}, key: newKey('open') }),
    ),
    await timed('list accounts', () => client.send('GET', '/api/v1/accounts', { token: customer.token })),
  ];
}

async function newCampaign(): Promise<string> {
  const created = await client.careful('POST', '/api/v1/admin/coupon-campaigns', {
    token: adminToken,
    body: { name: `isolation-${newKey('c')}`, quantity: 1_000 },
  });
  assert.equal(created.status, 201, created.text);
  return created.body.campaignId;
}

test('when core-payment is killed, then logins and deposits keep answering, it comes back by itself, and the deposits accepted meanwhile complete', {
  timeout: 180_000,
}, async () => {
  const customer = await newCustomer(client);
  const before = await balanceOf(customer);
  const victim = system.supervisor.status('core-payment');
  system.supervisor.signal('core-payment', 'SIGKILL');
  const accepted: string[] = [];
  const logins: number[] = [];
  const killedAt = Date.now();
  while (system.supervisor.status('core-payment').state !== 'ready' || Date.now() - killedAt < 3_000) {
    const answer = await deposit(customer, 7);
    assert.equal(answer.status, 202, answer.text);
    accepted.push(answer.body.depositId);
    const login = await client.send('POST', '/api/v1/auth/login', {
      body: { loginId: customer.person.loginId, password: customer.person.password },
    });
    logins.push(login.status);
    assert.ok(Date.now() - killedAt < 20_000, 'core-payment came back within 20 s');
    await sleep(100);
  }
  assert.ok(
    logins.every((status) => status === 200),
    logins.join(','),
  );
  const back = system.supervisor.status('core-payment');
  assert.equal(back.restarts, victim.restarts + 1);
  assert.notEqual(back.pid, victim.pid);
  for (const depositId of accepted) {
    const settled = await settledDeposit(client, customer, depositId, 90_000);
    assert.equal(settled.body.status, 'COMPLETED', settled.text);
  }
  assert.equal(await balanceOf(customer), before + 7 * accepted.length);
  await assertReconciled();
});

test('when the whole core zone hangs (SIGSTOP) for 20 s under load, then the channel keeps serving, core routes answer 503 CORE_UNAVAILABLE within about a second, and everything accepted completes after SIGCONT', {
  timeout: 240_000,
}, async () => {
  const customer = await newCustomer(client);
  const funding = await client.careful('POST', `/api/v1/accounts/${customer.accountNo}/deposits`, {
    token: customer.token,
    body: { amount: 1_000 },
    key: newKey('dep'),
  });
  assert.equal(
    (await settledDeposit(client, customer, funding.body.depositId, 60_000)).body.status,
    'COMPLETED',
  );
  const campaignId = await newCampaign();
  const before = await balanceOf(customer);
  const accepted: string[] = [];
  const channel: ChannelProbe[] = [];
  const core: Array<{ route: string; answer: Answer; ms: number }> = [];
  const core5xx: string[] = [];
  const withdrawalKeys: string[] = [];

  const paused = ['core-user', 'core-payment'];
  for (const name of paused) system.supervisor.signal(name, 'SIGSTOP');
  const pausedAt = Date.now();
  try {
    while (Date.now() - pausedAt < 20_000) {
      channel.push(...(await useChannelOnly(customer, campaignId, accepted)));
      if (Date.now() - pausedAt > 3_000) core.push(...(await useCore(customer, withdrawalKeys)));
      await sleep(200);
    }
  } finally {
    for (const name of paused) system.supervisor.signal(name, 'SIGCONT');
  }

  // The channel kept serving: every answer of a channel-only route is a success
  // (the coupon is issued once; asking again is 409 ALREADY_ISSUED, as ever).
  const failed = channel.filter(
    (probe) => probe.status >= 300 && !(probe.route === 'coupon issue' && probe.status === 409),
  );
  assert.deepEqual(failed, [], 'channel-only routes while the core hung');
  assert.equal(channel.filter((probe) => probe.route === 'coupon issue' && probe.status === 201).length, 1);
  assert.ok(channel.length >= 7 * 10, `enough channel traffic (${channel.length})`);
  // The core routes answered 503 CORE_UNAVAILABLE, never a hang or a 500, once the circuits were open.
  assert.ok(core.length >= 8);
  for (const { route, answer, ms } of core) {
    assert.equal(answer.status, 503, `${route}: ${answer.text}`);
    assert.equal(answer.body.code, 'CORE_UNAVAILABLE', route);
    if (ms > 2_000) core5xx.push(`${route} took ${ms} ms`);
  }
  assert.deepEqual(core5xx, [], 'each answered within about a second');

  // After SIGCONT: the deposits accepted during the hang all complete, exactly once.
  for (const depositId of accepted) {
    const settled = await settledDeposit(client, customer, depositId, 120_000);
    assert.equal(settled.body.status, 'COMPLETED', settled.text);
  }
  // A withdrawal that reached the frozen core before channel-user's circuit
  // opened was applied when the core woke, though its caller had been told
  // 503 (which promises only "retry with the same key: never debited twice").
  // So each is retried with its key, as a client would: each ends debited
  // exactly once, whether the retry replays it or runs it now.
  for (const key of withdrawalKeys) {
    const retried = await client.careful('POST', `/api/v1/accounts/${customer.accountNo}/withdrawals`, {
      token: customer.token,
      body: { amount: 1 },
      key,
    });
    assert.equal(retried.status, 200, retried.text);
  }
  assert.equal(await balanceOf(customer), before + 10 * accepted.length - withdrawalKeys.length);
  const withdrawal = await client.careful('POST', `/api/v1/accounts/${customer.accountNo}/withdrawals`, {
    token: customer.token,
    body: { amount: 1 },
    key: newKey('wd'),
  });
  assert.equal(withdrawal.status, 200, 'the core serves again');
  await assertReconciled();
});
