import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  coreBackIn,
  gatewayToken,
  internalToken,
  opsToken,
  pointToken,
  problem,
  randomUserUuid,
  startService,
  type TestService,
} from './helpers.ts';

const zeroUuid = '00000000-0000-7000-8000-000000000000';
const maxUuid = 'ffffffff-ffff-7fff-bfff-ffffffffffff';

// core-payment is a scripted stand-in here: these tests are about what the
// channel does with each core answer (the e2e suite runs the real core).

let service: TestService;
let userUuid: string;
let token: string;
let accounts: Map<string, { userUuid: string; balance: number }>;
let withdrawalKeys: Map<string, { balanceAfter: number }>;
/** The stand-in core's open keys (per user, as core-payment keeps them): a repeat answers the same account. */
let openKeys: Map<string, string>;

function accountBody(accountNo: string, owner: string, balance: number) {
  return {
    accountNo,
    userUuid: owner,
    alias: null,
    balance,
    currency: 'KRW',
    status: 'ACTIVE',
    openedAt: '2026-01-01T00:00:00.000Z',
  };
}

let accountSequence = 0;
function nextAccountNo(): string {
  accountSequence += 1;
  return `110-200-${String(accountSequence).padStart(6, '0')}`;
}

before(async () => {
  service = await startService('accounts');
  userUuid = randomUserUuid();
  token = (await service.issuer.issue(userUuid)).token;
});

beforeEach(async () => {
  accounts = new Map();
  withdrawalKeys = new Map();
  openKeys = new Map();
  service.corePayment.ready = true;
  await coreBackIn(service.coreClients.payment);
  service.corePayment.handler = ({ method, path, body, query }) => {
    if (method === 'POST' && path === '/internal/v1/accounts') {
      const request = body as { userUuid: string; alias?: string; openKey: string };
      const opened = openKeys.get(`${request.userUuid}/${request.openKey}`);
      if (opened !== undefined) {
        return {
          status: 200,
          body: { ...accountBody(opened, request.userUuid, 0), alias: request.alias ?? null },
        };
      }
      const owned = [...accounts.values()].filter((account) => account.userUuid === request.userUuid);
      if (owned.length >= 5) return problem(409, 'ACCOUNT_LIMIT_REACHED');
      const accountNo = nextAccountNo();
      accounts.set(accountNo, { userUuid: request.userUuid, balance: 0 });
      openKeys.set(`${request.userUuid}/${request.openKey}`, accountNo);
      return {
        status: 201,
        body: { ...accountBody(accountNo, request.userUuid, 0), alias: request.alias ?? null },
      };
    }
    const single = /^\/internal\/v1\/accounts\/([^/]+)$/.exec(path);
    if (method === 'GET' && single) {
      const account = accounts.get(single[1]!);
      if (account === undefined || account.userUuid !== query.get('userUuid'))
        return problem(404, 'ACCOUNT_NOT_FOUND');
      return { status: 200, body: accountBody(single[1]!, account.userUuid, account.balance) };
    }
    const list = /^\/internal\/v1\/users\/([^/]+)\/accounts$/.exec(path);
    if (method === 'GET' && list) {
      const items = [...accounts.entries()]
        .filter(([, account]) => account.userUuid === list[1])
        .map(([accountNo, account]) => accountBody(accountNo, account.userUuid, account.balance));
      return { status: 200, body: { items } };
    }
    const withdrawal = /^\/internal\/v1\/accounts\/([^/]+)\/withdrawals$/.exec(path);
    if (method === 'POST' && withdrawal) {
      const request = body as { userUuid: string; amount: number; idempotencyKey: string };
      const replay = withdrawalKeys.get(request.idempotencyKey);
      const account = accounts.get(withdrawal[1]!)!;
      if (replay === undefined) {
        if (account.balance < request.amount) return problem(409, 'INSUFFICIENT_BALANCE');
        account.balance -= request.amount;
        withdrawalKeys.set(request.idempotencyKey, { balanceAfter: account.balance });
      }
      return {
        status: 200,
        // As core-payment does: an answer from the key's record says so.
        ...(replay === undefined ? {} : { headers: { 'idempotent-replayed': 'true' } }),
        body: {
          withdrawalId: '01890a5d-ac96-774b-bcce-b302099a8057',
          accountNo: withdrawal[1],
          amount: request.amount,
          balanceAfter: withdrawalKeys.get(request.idempotencyKey)!.balanceAfter,
        },
      };
    }
    const transactions = /^\/internal\/v1\/accounts\/([^/]+)\/transactions$/.exec(path);
    if (method === 'GET' && transactions) {
      return { status: 200, body: { items: [], nextCursor: null, limitSeen: query.get('limit') } };
    }
    return problem(404, 'NOT_FOUND');
  };
});

after(async () => {
  await service?.close();
});

function call(
  method: 'GET' | 'POST',
  url: string,
  payload?: unknown,
  headers: Record<string, string> = {},
  as = token,
) {
  return service.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${as}`, ...headers },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function openAccount(alias?: string): Promise<string> {
  const response = await call('POST', '/api/v1/accounts', alias === undefined ? {} : { alias });
  assert.equal(response.statusCode, 201, response.body);
  return response.json<{ accountNo: string }>().accountNo;
}

describe('accounts', () => {
  test('when a user opens an account, then 201 has the public shape and the link is stored', async () => {
    const response = await call('POST', '/api/v1/accounts', { alias: ' 월급통장 ' });
    assert.equal(response.statusCode, 201, response.body);
    const body = response.json<Record<string, unknown>>();
    assert.deepEqual(Object.keys(body).sort(), [
      'accountNo',
      'alias',
      'balance',
      'currency',
      'openedAt',
      'status',
    ]);
    assert.equal(body.balance, 0);
    const link = await service.database.db
      .selectFrom('account_links')
      .selectAll()
      .where('account_no', '=', body.accountNo as string)
      .executeTakeFirstOrThrow();
    assert.equal(link.user_uuid, userUuid);
  });

  test('when the body is absent, then the account opens without alias', async () => {
    const response = await service.app.inject({
      method: 'POST',
      url: '/api/v1/accounts',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.statusCode, 201, response.body);
  });

  test('when the alias is blank, too long or holds control characters (NUL among them), then 400 without a core call', async () => {
    const before = service.corePayment.calls.length;
    for (const alias of [
      '   ',
      'x'.repeat(31),
      5,
      'a\u0000b',
      'tab\there',
      'line\u2028break',
      'bell\u0007',
    ]) {
      const response = await call('POST', '/api/v1/accounts', { alias });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().code, 'VALIDATION_FAILED');
    }
    assert.equal(service.corePayment.calls.length, before);
  });

  test('when the core refuses a sixth account, then 409 ACCOUNT_LIMIT_REACHED passes through', async () => {
    for (let index = 0; index < 5; index += 1) await openAccount();
    const response = await call('POST', '/api/v1/accounts', {});
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'ACCOUNT_LIMIT_REACHED');
  });

  test('when the same Idempotency-Key is replayed, then one account is opened and the answer is replayed', async () => {
    const headers = { 'idempotency-key': `open-${Date.now()}` };
    const first = await call('POST', '/api/v1/accounts', { alias: 'a' }, headers);
    const second = await call('POST', '/api/v1/accounts', { alias: 'a' }, headers);
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 201);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.deepEqual(second.json(), first.json());
    assert.equal(accounts.size, 1);
    const other = await call('POST', '/api/v1/accounts', { alias: 'b' }, headers);
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED');
    const malformed = await call('POST', '/api/v1/accounts', {}, { 'idempotency-key': 'bad key!' });
    assert.equal(malformed.statusCode, 400);
  });

  test('when the core opens the account but its answer times out, then the retry carries the same open key and gets that account', async () => {
    const real = service.corePayment.handler;
    let attempts = 0;
    service.corePayment.handler = async (request) => {
      if (request.path !== '/internal/v1/accounts') return real(request);
      attempts += 1;
      const answer = await real(request);
      // The first opening happens, but its answer is lost in a timeout.
      return attempts === 1 ? { ...answer, delayMs: 1_500 } : answer;
    };
    const response = await call('POST', '/api/v1/accounts', { alias: '적금' });
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(attempts, 2);
    assert.equal(accounts.size, 1, 'one account at the core');
    const [accountNo] = [...accounts.keys()];
    assert.equal(response.json().accountNo, accountNo);
    assert.equal(response.json().alias, '적금');
    const keys = service.corePayment.calls
      .filter((c) => c.path === '/internal/v1/accounts')
      .slice(-2)
      .map((c) => (c.body as { openKey: string }).openKey);
    assert.match(keys[0]!, /^[0-9a-f-]{36}$/);
    assert.equal(keys[0], keys[1]);
    const link = await service.database.db
      .selectFrom('account_links')
      .select('user_uuid')
      .where('account_no', '=', accountNo!)
      .executeTakeFirstOrThrow();
    assert.equal(link.user_uuid, userUuid);
  });

  test('when the core does not answer in time, then 503 CORE_UNAVAILABLE says the outcome is not known yet (with Retry-After), and the retry with the same Idempotency-Key asks the core with the same open key: one account exists', async () => {
    const real = service.corePayment.handler;
    let attempts = 0;
    service.corePayment.handler = async (request) => {
      if (request.path !== '/internal/v1/accounts') return real(request);
      attempts += 1;
      const answer = await real(request);
      // Every attempt of the first public request opens (or finds) the account, but its answers are lost.
      return attempts <= 3 ? { ...answer, delayMs: 1_500 } : answer;
    };
    const headers = { 'idempotency-key': `open-retry-${Date.now()}` };
    const lost = await call('POST', '/api/v1/accounts', {}, headers);
    assert.equal(lost.statusCode, 503);
    assert.equal(lost.json().code, 'CORE_UNAVAILABLE');
    assert.match(lost.json().detail, /not known yet; retry with the same Idempotency-Key/);
    assert.equal(lost.headers['retry-after'], '1');
    await coreBackIn(service.coreClients.payment);
    const retried = await call('POST', '/api/v1/accounts', {}, headers);
    assert.equal(retried.statusCode, 201, retried.body);
    assert.equal(accounts.size, 1);
    assert.equal(retried.json().accountNo, [...accounts.keys()][0]);
    const keys = new Set(
      service.corePayment.calls
        .filter((c) => c.path === '/internal/v1/accounts')
        .slice(-4)
        .map((c) => (c.body as { openKey: string }).openKey),
    );
    assert.equal(keys.size, 1);
  });

  test('when accounts are listed and read, then only the public fields come back', async () => {
    const accountNo = await openAccount();
    const list = await call('GET', '/api/v1/accounts');
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json<{ items: Array<{ accountNo: string }> }>().items.map((item) => item.accountNo),
      [accountNo],
    );
    assert.ok(!list.body.includes('userUuid'));
    const single = await call('GET', `/api/v1/accounts/${accountNo}`);
    assert.equal(single.statusCode, 200);
    assert.ok(!single.body.includes('userUuid'));
  });

  test("when another user's, an unknown or a malformed account is asked for, then the same 404 without a core call", async () => {
    const accountNo = await openAccount();
    const stranger = (await service.issuer.issue(randomUserUuid())).token;
    const before = service.corePayment.calls.length;
    const paths = [`/api/v1/accounts/${accountNo}`, `/api/v1/accounts/${accountNo}/transactions`];
    for (const path of paths) {
      const response = await call('GET', path, undefined, {}, stranger);
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().code, 'ACCOUNT_NOT_FOUND');
    }
    // Too long for any account number too (33 to 100 characters: the use case; past 100: the router).
    for (const bad of ['999-999-999999', 'abc', "1'%20or%20'1'='1", '%00', '9'.repeat(33), '9'.repeat(100)]) {
      const response = await call('GET', `/api/v1/accounts/${bad}`);
      assert.equal(response.statusCode, 404, bad);
      assert.equal(response.json().code, 'ACCOUNT_NOT_FOUND', bad);
    }
    const overLong = await call('GET', `/api/v1/accounts/${'9'.repeat(101)}`);
    assert.equal(overLong.statusCode, 404);
    assert.equal(overLong.json().code, 'NOT_FOUND');
    const foreignWithdrawal = await call(
      'POST',
      `/api/v1/accounts/${accountNo}/withdrawals`,
      { amount: 1 },
      {},
      stranger,
    );
    assert.equal(foreignWithdrawal.statusCode, 404);
    assert.equal(service.corePayment.calls.length, before);
  });

  test('when transactions are listed, then limit is checked and passed on', async () => {
    const accountNo = await openAccount();
    const page = await call('GET', `/api/v1/accounts/${accountNo}/transactions?limit=5`);
    assert.equal(page.statusCode, 200);
    assert.deepEqual(page.json(), { items: [], nextCursor: null });
    assert.match(service.corePayment.calls.at(-1)!.path, /transactions$/);
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5']) {
      const response = await call('GET', `/api/v1/accounts/${accountNo}/transactions?${query}`);
      assert.equal(response.statusCode, 400, query);
    }
  });
});

describe('withdrawals', () => {
  test('when there is money, then 200 with the balance after; the same key replays without a second debit', async () => {
    const accountNo = await openAccount();
    accounts.get(accountNo)!.balance = 10_000;
    const headers = { 'idempotency-key': `w-${Date.now()}` };
    const first = await call('POST', `/api/v1/accounts/${accountNo}/withdrawals`, { amount: 3_000 }, headers);
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(Object.keys(first.json()).sort(), [
      'accountNo',
      'amount',
      'balanceAfter',
      'withdrawalId',
    ]);
    assert.equal(first.json().balanceAfter, 7_000);
    const replay = await call(
      'POST',
      `/api/v1/accounts/${accountNo}/withdrawals`,
      { amount: 3_000 },
      headers,
    );
    assert.equal(replay.statusCode, 200);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(accounts.get(accountNo)!.balance, 7_000);
    const core = service.corePayment.calls.filter((c) => c.path.endsWith('/withdrawals')).at(-1)!;
    assert.equal((core.body as { idempotencyKey: string }).idempotencyKey, headers['idempotency-key']);
  });

  test('when the balance is short, then 409 INSUFFICIENT_BALANCE passes through', async () => {
    const accountNo = await openAccount();
    const response = await call('POST', `/api/v1/accounts/${accountNo}/withdrawals`, { amount: 1 });
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'INSUFFICIENT_BALANCE');
  });

  test('when the amount is not an integer in range, then 400 VALIDATION_FAILED and no core call', async () => {
    const accountNo = await openAccount();
    const before = service.corePayment.calls.length;
    for (const amount of [0, -1, 1.5, '100', null, 100_000_001, 1e21, true, [1], { $gt: 0 }]) {
      const response = await call('POST', `/api/v1/accounts/${accountNo}/withdrawals`, { amount });
      assert.equal(response.statusCode, 400, JSON.stringify(amount));
      assert.equal(response.json().code, 'VALIDATION_FAILED');
    }
    const malformed = await service.app.inject({
      method: 'POST',
      url: `/api/v1/accounts/${accountNo}/withdrawals`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: '{"amount": 1',
    });
    assert.equal(malformed.statusCode, 400);
    assert.equal(service.corePayment.calls.length, before);
  });

  test('when a key comes back after the channel forgot it, then the core answers from its record and the answer says it is a replay', async () => {
    const accountNo = await openAccount();
    accounts.get(accountNo)!.balance = 5_000;
    const key = `forgotten-${Date.now()}`;
    // Used days ago: the channel's binding is gone (48 h), the core's record is not.
    withdrawalKeys.set(key, { balanceAfter: 4_000 });
    const response = await call(
      'POST',
      `/api/v1/accounts/${accountNo}/withdrawals`,
      { amount: 1_000 },
      { 'idempotency-key': key },
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().balanceAfter, 4_000, 'the first answer');
    assert.equal(accounts.get(accountNo)!.balance, 5_000, 'nothing debited');
    assert.equal(response.headers['idempotent-replayed'], 'true');
  });

  test('when the first attempt times out, then the retry carries the same key and the core debits once', async () => {
    const accountNo = await openAccount();
    accounts.get(accountNo)!.balance = 5_000;
    const real = service.corePayment.handler;
    let attempts = 0;
    service.corePayment.handler = async (request) => {
      if (!request.path.endsWith('/withdrawals')) return real(request);
      attempts += 1;
      const answer = await real(request);
      // The first debit happens but its answer is lost in a timeout.
      return attempts === 1 ? { ...answer, delayMs: 1_500 } : answer;
    };
    const response = await call(
      'POST',
      `/api/v1/accounts/${accountNo}/withdrawals`,
      { amount: 2_000 },
      { 'idempotency-key': `lost-${Date.now()}` },
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().balanceAfter, 3_000);
    assert.equal(accounts.get(accountNo)!.balance, 3_000);
    assert.equal(attempts, 2);
    // The core replayed to our retry, but this is the client's first answer.
    assert.equal(response.headers['idempotent-replayed'], undefined);
    const keys = service.corePayment.calls
      .filter((c) => c.path.endsWith('/withdrawals'))
      .slice(-2)
      .map((c) => (c.body as { idempotencyKey: string }).idempotencyKey);
    assert.equal(keys[0], keys[1]);
  });

  test('when the core keeps failing, then 503 CORE_UNAVAILABLE, and once the circuit opens calls fail fast', async () => {
    const accountNo = await openAccount();
    // Failing for real: its readiness fails too, so no probe lets it back.
    service.corePayment.ready = false;
    service.corePayment.handler = () => ({ status: 503 });
    const first = await call('POST', `/api/v1/accounts/${accountNo}/withdrawals`, { amount: 1 });
    assert.equal(first.statusCode, 503);
    assert.equal(first.json().code, 'CORE_UNAVAILABLE');
    await call('POST', `/api/v1/accounts/${accountNo}/withdrawals`, { amount: 1 });
    assert.equal(service.coreClients.payment.readyInstances(), 0, 'every circuit is open');
    // Withdrawals only: a readiness probe may land in between (it is how a circuit would close).
    const withdrawalsAtCore = () =>
      service.corePayment.calls.filter((c) => c.path.endsWith('/withdrawals')).length;
    const callsBefore = withdrawalsAtCore();
    const started = Date.now();
    const fast = await call('POST', `/api/v1/accounts/${accountNo}/withdrawals`, { amount: 1 });
    assert.equal(fast.statusCode, 503);
    assert.ok(Date.now() - started < 200);
    assert.equal(withdrawalsAtCore(), callsBefore);
  });
});

describe('internal account links', () => {
  test('when point asks with its token, then a linked account answers 200 and anything else 404', async () => {
    const accountNo = await openAccount();
    const auth = { authorization: `Bearer ${pointToken}` };
    const ok = await service.app.inject({
      method: 'GET',
      url: `/internal/v1/account-links/${accountNo}?userUuid=${userUuid}`,
      headers: auth,
    });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { accountNo, userUuid });
    for (const query of [`userUuid=${randomUserUuid()}`, 'userUuid=nope']) {
      const response = await service.app.inject({
        method: 'GET',
        url: `/internal/v1/account-links/${accountNo}?${query}`,
        headers: auth,
      });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().code, 'ACCOUNT_NOT_FOUND');
    }
    const noToken = await service.app.inject({
      method: 'GET',
      url: `/internal/v1/account-links/${accountNo}?userUuid=${userUuid}`,
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(noToken.statusCode, 401);
  });

  test('when a caller presents its own token for a route it was not given, then 403 FORBIDDEN; an unknown token 401', async () => {
    const accountNo = await openAccount();
    const cases = [
      { url: `/internal/v1/account-links/${accountNo}?userUuid=${userUuid}`, token: opsToken, status: 403 },
      { url: `/internal/v1/deposit-totals?from=${zeroUuid}&to=${maxUuid}`, token: pointToken, status: 403 },
      // channel-user's own token proves channel-user, which is not one of its own callers.
      {
        url: `/internal/v1/account-links/${accountNo}?userUuid=${userUuid}`,
        token: internalToken,
        status: 401,
      },
      { url: `/internal/v1/deposit-totals?from=${zeroUuid}&to=${maxUuid}`, token: opsToken, status: 200 },
      // The gateway reads the operator console's reports, nothing about anyone's account.
      { url: `/internal/v1/deposit-totals?from=${zeroUuid}&to=${maxUuid}`, token: gatewayToken, status: 200 },
      { url: '/internal/v1/ops/outbox', token: gatewayToken, status: 200 },
      { url: '/internal/v1/ops/outbox', token: pointToken, status: 403 },
      {
        url: `/internal/v1/account-links/${accountNo}?userUuid=${userUuid}`,
        token: gatewayToken,
        status: 403,
      },
    ];
    for (const { url, token: bearer, status } of cases) {
      const response = await service.app.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${bearer}` },
      });
      assert.equal(response.statusCode, status, url);
      if (status !== 200)
        assert.equal(response.json().code, status === 403 ? 'FORBIDDEN' : 'UNAUTHENTICATED');
    }
  });
});
