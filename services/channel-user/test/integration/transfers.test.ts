import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { luhnCheckDigit } from '@nuri/contracts/account-number';
import { coreBackIn, problem, randomUserUuid, startService, type TestService } from './helpers.ts';

// core-payment and core-user are scripted stand-ins here: these tests are
// about what the channel checks and does with each core answer (the e2e suite
// runs the real core, and core-payment's own tests its transaction).

let service: TestService;
let sequence = 0;

/** A valid account number (its Luhn digit right), different each call. */
function accountNo(): string {
  sequence += 1;
  const payload = `3${String(Date.now() % 1_000_000).padStart(6, '0')}${String(sequence).padStart(4, '0')}`;
  const digits = `${payload}${luhnCheckDigit(payload)}`;
  return `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
}

interface Holder {
  userUuid: string;
  token: string;
  accountNo: string;
}

let accounts: Map<string, { userUuid: string; balance: number; status: 'ACTIVE' | 'CLOSED' }>;
/** The stand-in core's transfer records by (user, key): a repeat is answered from them. */
let decided: Map<string, { status: number; body: unknown }>;
let registryNames: Map<string, string>;

before(async () => {
  service = await startService('transfers');
});

after(async () => {
  await service?.close();
});

beforeEach(async () => {
  accounts = new Map();
  decided = new Map();
  registryNames = new Map();
  await coreBackIn(service.coreClients.payment);
  service.coreUser.handler = ({ method, path }) => {
    const found = /^\/internal\/v1\/users\/([^/]+)$/.exec(path);
    const name = found === null ? undefined : registryNames.get(found[1]!);
    if (method === 'GET' && name !== undefined)
      return { status: 200, body: { userUuid: found![1], maskedName: name } };
    return problem(404, 'USER_NOT_FOUND');
  };
  service.corePayment.handler = ({ method, path, body, query }) => {
    const single = /^\/internal\/v1\/accounts\/([^/]+)$/.exec(path);
    if (method === 'GET' && single) {
      const account = accounts.get(single[1]!);
      if (account === undefined) return problem(404, 'ACCOUNT_NOT_FOUND');
      return {
        status: 200,
        body: {
          accountNo: single[1],
          userUuid: account.userUuid,
          alias: null,
          balance: account.balance,
          currency: 'KRW',
          status: account.status,
          openedAt: '2026-01-01T00:00:00.000Z',
        },
      };
    }
    if (method === 'POST' && path === '/internal/v1/transfers') {
      const request = body as {
        userUuid: string;
        fromAccountNo: string;
        toAccountNo: string;
        amount: number;
        memo: string | null;
        idempotencyKey: string;
      };
      const key = `${request.userUuid}/${request.idempotencyKey}`;
      const earlier = decided.get(key);
      if (earlier !== undefined) return { ...earlier, headers: { 'idempotent-replayed': 'true' } };
      const from = accounts.get(request.fromAccountNo)!;
      const to = accounts.get(request.toAccountNo);
      if (to === undefined) return problem(404, 'RECIPIENT_NOT_FOUND');
      if (from.balance < request.amount) {
        decided.set(key, problem(409, 'INSUFFICIENT_BALANCE'));
        return problem(409, 'INSUFFICIENT_BALANCE');
      }
      from.balance -= request.amount;
      to.balance += request.amount;
      const answer = {
        status: 200,
        body: {
          transferId: '01890a5d-ac96-774b-bcce-b302099a8057',
          fromAccountNo: request.fromAccountNo,
          toAccountNo: request.toAccountNo,
          amount: request.amount,
          balanceAfter: from.balance,
          memo: request.memo,
          createdAt: '2026-12-06T01:02:03.000Z',
        },
      };
      decided.set(key, answer);
      return answer;
    }
    const transactions = /^\/internal\/v1\/accounts\/([^/]+)\/transactions$/.exec(path);
    if (method === 'GET' && transactions) {
      const counterpartyOf = query.get('userUuid') === 'unnamed' ? randomUserUuid() : undefined;
      return {
        status: 200,
        body: { items: statementOf(transactions[1]!, counterpartyOf), nextCursor: null },
      };
    }
    const transfer = /^\/internal\/v1\/transfers\/([^/]+)$/.exec(path);
    if (method === 'GET' && transfer) {
      const sent = [...decided.entries()].find(
        ([key, answer]) => key.startsWith(`${query.get('userUuid')}/`) && answer.status === 200,
      );
      return sent === undefined ? problem(404, 'TRANSFER_NOT_FOUND') : sent[1];
    }
    return problem(404, 'NOT_FOUND');
  };
});

/** Two lines of a statement, one each way, whose other side is `counterparty`. */
let statementCounterparty = '';
function statementOf(_accountNo: string, override?: string) {
  const other = override ?? statementCounterparty;
  return [
    {
      id: 't1',
      type: 'TRANSFER_IN',
      amount: 500,
      balanceAfter: 1_500,
      reference: 'r1',
      createdAt: '2026-12-06T01:00:00.000Z',
      counterparty: { userUuid: other, accountNoLast4: '0042' },
      memo: '회비',
    },
    {
      id: 't0',
      type: 'DEPOSIT',
      amount: 1_000,
      balanceAfter: 1_000,
      reference: 'r0',
      createdAt: '2026-12-06T00:00:00.000Z',
    },
  ];
}

/** A channel customer: a login (its masked name stored as signup does), a linked account at the stand-in core. */
async function customer(maskedName: string, balance: number): Promise<Holder> {
  const userUuid = randomUserUuid();
  await service.database.db
    .insertInto('logins')
    .values({
      user_uuid: userUuid,
      login_id: `t_${userUuid.slice(0, 8)}`,
      password_hash: 'not-used',
      masked_name: maskedName,
      masked_rrn: '900101-1******',
      masked_phone: null,
    })
    .execute();
  const number = accountNo();
  accounts.set(number, { userUuid, balance, status: 'ACTIVE' });
  await service.database.db
    .insertInto('account_links')
    .values({ account_no: number, user_uuid: userUuid })
    .execute();
  return { userUuid, accountNo: number, token: (await service.issuer.issue(userUuid)).token };
}

function call(
  as: Holder,
  method: 'GET' | 'POST',
  url: string,
  payload?: unknown,
  headers: Record<string, string> = {},
) {
  return service.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${as.token}`, ...headers },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

describe('recipient look-up (받는 분 확인)', () => {
  test('when a user looks up an open account, then its holder is named masked only, with the bank', async () => {
    const alice = await customer('김*수', 0);
    const bob = await customer('이*희', 0);
    const found = await call(alice, 'GET', `/api/v1/transfer-recipients/${bob.accountNo}`);
    assert.equal(found.statusCode, 200, found.body);
    assert.deepEqual(found.json(), { accountNo: bob.accountNo, holderMaskedName: '이*희', bank: 'NURI' });
  });

  test('when the number is malformed, fails its check digit, is unknown or closed, then 404 RECIPIENT_NOT_FOUND (the first two without a core call)', async () => {
    const alice = await customer('김*수', 0);
    const closed = await customer('박*준', 0);
    accounts.get(closed.accountNo)!.status = 'CLOSED';
    const good = accountNo();
    const badLuhn = `${good.slice(0, -1)}${(Number(good.at(-1)) + 1) % 10}`;
    const callsBefore = service.corePayment.calls.length;
    for (const number of ['12-34', 'abc-def-ghijkl', badLuhn]) {
      const response = await call(alice, 'GET', `/api/v1/transfer-recipients/${encodeURIComponent(number)}`);
      assert.deepEqual([response.statusCode, response.json().code], [404, 'RECIPIENT_NOT_FOUND'], number);
    }
    assert.equal(service.corePayment.calls.length, callsBefore, 'impossible numbers never reach the core');
    for (const number of [accountNo(), closed.accountNo]) {
      const response = await call(alice, 'GET', `/api/v1/transfer-recipients/${number}`);
      assert.deepEqual([response.statusCode, response.json().code], [404, 'RECIPIENT_NOT_FOUND'], number);
    }
  });

  test('when a holder has no login here, then the registry’s masked name is used', async () => {
    const alice = await customer('김*수', 0);
    const stranger = randomUserUuid();
    const number = accountNo();
    accounts.set(number, { userUuid: stranger, balance: 0, status: 'ACTIVE' });
    registryNames.set(stranger, '최*영');
    const found = await call(alice, 'GET', `/api/v1/transfer-recipients/${number}`);
    assert.equal(found.json().holderMaskedName, '최*영');
  });

  test('when a user looks up more than 30 accounts in a minute, then 429 RATE_LIMITED with Retry-After, found or not; another user is unaffected', async () => {
    const prober = await customer('정*호', 0);
    const bob = await customer('이*희', 0);
    const statuses: number[] = [];
    for (let index = 0; index < 31; index += 1) {
      const target = index % 2 === 0 ? bob.accountNo : accountNo();
      statuses.push((await call(prober, 'GET', `/api/v1/transfer-recipients/${target}`)).statusCode);
    }
    assert.ok(
      statuses.slice(0, 30).every((status) => status === 200 || status === 404),
      statuses.join(),
    );
    assert.equal(statuses[30], 429);
    const refused = await call(prober, 'GET', `/api/v1/transfer-recipients/${bob.accountNo}`);
    assert.equal(refused.json().code, 'RATE_LIMITED');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
    const other = await customer('한*림', 0);
    assert.equal((await call(other, 'GET', `/api/v1/transfer-recipients/${bob.accountNo}`)).statusCode, 200);
    // The window ends: counted again from one.
    await service.database.db
      .updateTable('recipient_lookups')
      .set({ window_start: new Date(Date.now() - 61_000) })
      .where('user_uuid', '=', prober.userUuid)
      .execute();
    assert.equal((await call(prober, 'GET', `/api/v1/transfer-recipients/${bob.accountNo}`)).statusCode, 200);
  });

  test('when a user sends 1-won transfers to numbers nobody holds, then each miss counts as a look-up, and past the limit every transfer of theirs is 429, found or not', async () => {
    const prober = await customer('정*호', 0);
    const bob = await customer('이*희', 0);
    const send = (to: string) =>
      call(prober, 'POST', '/api/v1/transfers', {
        fromAccountNo: prober.accountNo,
        toAccountNo: to,
        amount: 1,
      });
    // An empty account: a real recipient answers 409 INSUFFICIENT_BALANCE, an unknown one 404 — an existence oracle.
    assert.equal((await send(bob.accountNo)).json().code, 'INSUFFICIENT_BALANCE');
    const misses: number[] = [];
    for (let index = 0; index < 31; index += 1) misses.push((await send(accountNo())).statusCode);
    assert.deepEqual(
      misses,
      Array(31).fill(404),
      'each miss is still answered, the 31st counted over the limit',
    );
    for (const to of [bob.accountNo, accountNo()]) {
      const refused = await send(to);
      assert.deepEqual([refused.statusCode, refused.json().code], [429, 'RATE_LIMITED'], to);
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
    }
    // The misses used up the look-ups too.
    assert.equal((await call(prober, 'GET', `/api/v1/transfer-recipients/${bob.accountNo}`)).statusCode, 429);
    const other = await customer('한*림', 0);
    const otherSent = await call(other, 'POST', '/api/v1/transfers', {
      fromAccountNo: other.accountNo,
      toAccountNo: bob.accountNo,
      amount: 1,
    });
    assert.equal(otherSent.json().code, 'INSUFFICIENT_BALANCE', 'another user is unaffected');
  });

  test('when no access token is sent, then 401', async () => {
    const response = await service.app.inject({
      method: 'GET',
      url: `/api/v1/transfer-recipients/${accountNo()}`,
    });
    assert.equal(response.statusCode, 401);
  });
});

describe('transfers', () => {
  test('when the same keyed transfer is sent twice at once, then money moves once and exactly one answer says it is a replay', async () => {
    const alice = await customer('김*수', 10_000);
    const bob = await customer('이*희', 0);
    const body = { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 2_500 };
    const headers = { 'idempotency-key': `twice-${sequence}-${Date.now()}` };
    // The core takes the later of the two first (the first to arrive, the one
    // whose key binding was new, then finds the other's record): the case
    // where the repeat moves the money and the first request gets the replay.
    const real = service.corePayment.handler;
    let secondArrived: () => void = () => undefined;
    const second = new Promise<void>((resolve) => {
      secondArrived = resolve;
    });
    let arrivals = 0;
    service.corePayment.handler = async (request) => {
      if (request.path !== '/internal/v1/transfers') return real(request);
      arrivals += 1;
      if (arrivals === 1) {
        // Bounded: should the second never come, the assertions below say so.
        await Promise.race([second, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        await new Promise((resolve) => setTimeout(resolve, 20));
      } else secondArrived();
      return real(request);
    };
    let answers: Awaited<ReturnType<typeof call>>[];
    try {
      answers = await Promise.all([
        call(alice, 'POST', '/api/v1/transfers', body, headers),
        call(alice, 'POST', '/api/v1/transfers', body, headers),
      ]);
    } finally {
      service.corePayment.handler = real;
    }
    assert.equal(arrivals, 2, 'both reached the core');
    assert.deepEqual(
      answers.map((answer) => answer.statusCode),
      [200, 200],
      answers.map((answer) => answer.body).join('\n'),
    );
    assert.deepEqual(answers[0]!.json(), answers[1]!.json());
    assert.equal(
      answers.filter((answer) => answer.headers['idempotent-replayed'] === 'true').length,
      1,
      'one first answer, one replay',
    );
    assert.equal(accounts.get(bob.accountNo)!.balance, 2_500, 'moved once');
  });

  test('when a customer sends money, then the core moves it once under the client’s key, and a repeat is replayed', async () => {
    const alice = await customer('김*수', 10_000);
    const bob = await customer('이*희', 0);
    const body = {
      fromAccountNo: alice.accountNo,
      toAccountNo: bob.accountNo,
      amount: 3_000,
      memo: ' 점심 ',
    };
    const headers = { 'idempotency-key': `tr-${sequence}` };
    const sent = await call(alice, 'POST', '/api/v1/transfers', body, headers);
    assert.equal(sent.statusCode, 200, sent.body);
    assert.deepEqual(sent.json(), {
      transferId: '01890a5d-ac96-774b-bcce-b302099a8057',
      fromAccountNo: alice.accountNo,
      toAccountNo: bob.accountNo,
      amount: 3_000,
      balanceAfter: 7_000,
      memo: '점심',
      createdAt: '2026-12-06T01:02:03.000Z',
    });
    const core = service.corePayment.calls.filter((c) => c.path === '/internal/v1/transfers');
    assert.deepEqual(core.at(-1)?.body, {
      userUuid: alice.userUuid,
      fromAccountNo: alice.accountNo,
      toAccountNo: bob.accountNo,
      amount: 3_000,
      memo: '점심',
      idempotencyKey: headers['idempotency-key'],
    });
    const again = await call(alice, 'POST', '/api/v1/transfers', body, headers);
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(accounts.get(bob.accountNo)!.balance, 3_000, 'moved once');
    const reused = await call(alice, 'POST', '/api/v1/transfers', { ...body, amount: 1 }, headers);
    assert.deepEqual([reused.statusCode, reused.json().code], [422, 'IDEMPOTENCY_KEY_REUSED']);
    const read = await call(alice, 'GET', '/api/v1/transfers/01890a5d-ac96-774b-bcce-b302099a8057');
    assert.deepEqual(read.json(), sent.json());
    for (const id of ['not-a-uuid', '01890a5d-ac96-774b-bcce-b302099a8058']) {
      const missing = await call(bob, 'GET', `/api/v1/transfers/${id}`);
      assert.deepEqual([missing.statusCode, missing.json().code], [404, 'TRANSFER_NOT_FOUND']);
    }
  });

  test('when the core’s answer is lost, then the channel retries under the same key and the core moves the money once', async () => {
    const alice = await customer('김*수', 10_000);
    const bob = await customer('이*희', 0);
    const real = service.corePayment.handler;
    let first = true;
    service.corePayment.handler = async (request) => {
      const answer = await real(request);
      if (request.path === '/internal/v1/transfers' && first) {
        first = false;
        return { ...answer, delayMs: 3_000 }; // applied, but answered after the channel gave up waiting
      }
      return answer;
    };
    const sent = await call(alice, 'POST', '/api/v1/transfers', {
      fromAccountNo: alice.accountNo,
      toAccountNo: bob.accountNo,
      amount: 1_000,
    });
    assert.equal(sent.statusCode, 200, sent.body);
    const keys = service.corePayment.calls
      .filter((c) => c.path === '/internal/v1/transfers')
      .slice(-2)
      .map((c) => (c.body as { idempotencyKey: string }).idempotencyKey);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], 'the retry carries the same key');
    assert.equal(accounts.get(bob.accountNo)!.balance, 1_000);
    service.corePayment.handler = real;
  });

  test('when the sender’s account is not theirs, then 404 ACCOUNT_NOT_FOUND without a core call; bad bodies are 400; core refusals pass through', async () => {
    const alice = await customer('김*수', 500);
    const bob = await customer('이*희', 0);
    const callsBefore = service.corePayment.calls.length;
    const foreign = await call(alice, 'POST', '/api/v1/transfers', {
      fromAccountNo: bob.accountNo,
      toAccountNo: alice.accountNo,
      amount: 1,
    });
    assert.deepEqual([foreign.statusCode, foreign.json().code], [404, 'ACCOUNT_NOT_FOUND']);
    const invalid = [
      { fromAccountNo: alice.accountNo, toAccountNo: alice.accountNo, amount: 1 },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 0 },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 1.5 },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: '100' },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 100_000_001 },
      { fromAccountNo: alice.accountNo, toAccountNo: 'nope', amount: 1 },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 1, memo: 'x'.repeat(21) },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo, amount: 1, memo: 'a\u0000b' },
      { fromAccountNo: alice.accountNo, toAccountNo: bob.accountNo },
    ];
    for (const body of invalid) {
      const response = await call(alice, 'POST', '/api/v1/transfers', body);
      assert.deepEqual(
        [response.statusCode, response.json().code],
        [400, 'VALIDATION_FAILED'],
        JSON.stringify(body),
      );
    }
    assert.equal(service.corePayment.calls.length, callsBefore, 'none of these reached the core');
    const poor = await call(alice, 'POST', '/api/v1/transfers', {
      fromAccountNo: alice.accountNo,
      toAccountNo: bob.accountNo,
      amount: 501,
    });
    assert.deepEqual([poor.statusCode, poor.json().code], [409, 'INSUFFICIENT_BALANCE']);
    const nobody = await call(alice, 'POST', '/api/v1/transfers', {
      fromAccountNo: alice.accountNo,
      toAccountNo: accountNo(),
      amount: 1,
    });
    assert.deepEqual([nobody.statusCode, nobody.json().code], [404, 'RECIPIENT_NOT_FOUND']);
  });

  test('when the core cannot be reached, then 503 CORE_UNAVAILABLE with Retry-After: 1', async () => {
    const alice = await customer('김*수', 500);
    const bob = await customer('이*희', 0);
    const real = service.corePayment.handler;
    service.corePayment.handler = () => ({ status: 500, body: { code: 'INTERNAL' } });
    try {
      const response = await call(alice, 'POST', '/api/v1/transfers', {
        fromAccountNo: alice.accountNo,
        toAccountNo: bob.accountNo,
        amount: 1,
      });
      assert.deepEqual([response.statusCode, response.json().code], [503, 'CORE_UNAVAILABLE']);
      assert.equal(response.headers['retry-after'], '1');
    } finally {
      service.corePayment.handler = real;
      service.corePayment.ready = true;
    }
  });
});

describe('statements with transfers', () => {
  test('when a statement has transfer lines, then the other side is its holder’s masked name and the last 4 digits, never a userUuid', async () => {
    const alice = await customer('김*수', 0);
    const bob = await customer('이*희', 0);
    statementCounterparty = bob.userUuid;
    const page = await call(alice, 'GET', `/api/v1/accounts/${alice.accountNo}/transactions`);
    assert.equal(page.statusCode, 200, page.body);
    const [transferLine, deposit] = page.json().items;
    assert.deepEqual(transferLine.counterparty, { maskedName: '이*희', accountNoLast4: '0042' });
    assert.equal(transferLine.memo, '회비');
    assert.equal(transferLine.type, 'TRANSFER_IN');
    assert.equal(deposit.counterparty, undefined);
    assert.equal(page.body.includes(bob.userUuid), false, 'the holder’s id stays inside');
  });
});
