import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  auth,
  balanceOf,
  fund,
  openAccount,
  randomUserUuid,
  startService,
  type TestService,
} from './helpers.ts';

describe('withdrawals', { timeout: 60_000 }, () => {
  let service: TestService;
  before(async () => {
    service = await startService('withdrawals');
  });
  after(async () => {
    await service?.close();
  });

  function withdraw(accountNo: string, body: { userUuid: string; amount: number; idempotencyKey: string }) {
    return service.app.inject({
      method: 'POST',
      url: `/internal/v1/accounts/${accountNo}/withdrawals`,
      headers: auth,
      payload: body,
    });
  }

  async function withdrawalTransactions(accountNo: string) {
    return service.database.db
      .selectFrom('ledger_transactions')
      .selectAll()
      .where('account_no', '=', accountNo)
      .where('type', '=', 'WITHDRAWAL')
      .execute();
  }

  it('when 100 withdrawals of 1,000 race on a 10,000 balance, then exactly 10 succeed, 90 get 409 and the balance is 0', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 10_000n);
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        withdraw(accountNo, { userUuid, amount: 1_000, idempotencyKey: `race-${index}` }),
      ),
    );
    const succeeded = responses.filter((response) => response.statusCode === 200);
    const refused = responses.filter((response) => response.statusCode === 409);
    assert.equal(succeeded.length, 10);
    assert.equal(refused.length, 90);
    for (const response of refused) assert.equal(response.json().code, 'INSUFFICIENT_BALANCE');
    assert.deepEqual(
      succeeded.map((response) => response.json().balanceAfter).sort((a, b) => a - b),
      [0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000],
    );
    assert.equal(await balanceOf(service, accountNo), 0n);
    assert.equal((await withdrawalTransactions(accountNo)).length, 10);
    const legs = await service.database.db
      .selectFrom('ledger_entries')
      .select(['account_no', 'side'])
      .where('type', '=', 'WITHDRAWAL')
      .where(
        'reference',
        'in',
        succeeded.map((response) => response.json().withdrawalId),
      )
      .execute();
    assert.equal(legs.length, 20);
    assert.equal(
      legs.filter((leg) => leg.account_no === 'INTERNAL:CASH_OUT' && leg.side === 'CREDIT').length,
      10,
    );
    const stored = await service.database.db
      .selectFrom('withdrawals')
      .select(['status'])
      .where('account_no', '=', accountNo)
      .execute();
    assert.equal(stored.filter((row) => row.status === 'REJECTED').length, 90);
  });

  it('when a withdrawal is replayed with the same key and body, then the same answer comes back and it is debited once', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 5_000n);
    const body = { userUuid, amount: 1_500, idempotencyKey: 'pay-rent_2026-11' };
    const first = await withdraw(accountNo, body);
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const replays = await Promise.all([
      withdraw(accountNo, body),
      withdraw(accountNo, body),
      withdraw(accountNo, body),
    ]);
    for (const replay of replays) {
      assert.equal(replay.statusCode, 200);
      assert.deepEqual(replay.json(), first.json());
      assert.equal(replay.headers['idempotent-replayed'], 'true', 'the channel tells its client from this');
    }
    assert.deepEqual(
      { ...first.json<Record<string, unknown>>(), withdrawalId: undefined },
      { withdrawalId: undefined, accountNo, amount: 1_500, balanceAfter: 3_500 },
    );
    assert.equal(await balanceOf(service, accountNo), 3_500n);
    assert.equal((await withdrawalTransactions(accountNo)).length, 1);
  });

  it('when 20 requests with one key race, then one debit happens and all 20 get the same answer', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 5_000n);
    const body = { userUuid, amount: 700, idempotencyKey: 'double-click' };
    const responses = await Promise.all(Array.from({ length: 20 }, () => withdraw(accountNo, body)));
    const answers = new Set(responses.map((response) => `${response.statusCode} ${response.body}`));
    assert.equal(answers.size, 1, [...answers].join('\n'));
    assert.equal(responses[0]!.statusCode, 200);
    assert.equal(await balanceOf(service, accountNo), 4_300n);
    assert.equal((await withdrawalTransactions(accountNo)).length, 1);
  });

  it('when the same key comes back with another body, then it is 422 IDEMPOTENCY_KEY_REUSED and nothing moves', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 5_000n);
    assert.equal(
      (await withdraw(accountNo, { userUuid, amount: 1_000, idempotencyKey: 'k-1' })).statusCode,
      200,
    );
    const reused = await withdraw(accountNo, { userUuid, amount: 2_000, idempotencyKey: 'k-1' });
    assert.equal(reused.statusCode, 422);
    assert.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(reused.headers['idempotent-replayed'], undefined);
    assert.equal(await balanceOf(service, accountNo), 4_000n);
    assert.equal((await withdrawalTransactions(accountNo)).length, 1);
  });

  it('when a withdrawal was refused for lack of funds, then a replay is refused the same way even after a top-up', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 100n);
    const body = { userUuid, amount: 1_000, idempotencyKey: 'too-much' };
    const first = await withdraw(accountNo, body);
    assert.equal(first.statusCode, 409);
    assert.equal(first.json().code, 'INSUFFICIENT_BALANCE');
    await fund(service, accountNo, userUuid, 10_000n);
    const replay = await withdraw(accountNo, body);
    assert.equal(replay.statusCode, 409);
    assert.equal(replay.json().code, 'INSUFFICIENT_BALANCE');
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(await balanceOf(service, accountNo), 10_100n);
  });

  it("when a user withdraws from another user's account, then it is 404 and the balance is untouched", async () => {
    const owner = randomUserUuid();
    const accountNo = await openAccount(service, owner);
    await fund(service, accountNo, owner, 5_000n);
    const response = await withdraw(accountNo, {
      userUuid: randomUserUuid(),
      amount: 1_000,
      idempotencyKey: 'steal',
    });
    assert.equal(response.statusCode, 404);
    assert.equal(response.json().code, 'ACCOUNT_NOT_FOUND');
    assert.equal(await balanceOf(service, accountNo), 5_000n);
    const missing = await withdraw('123-456-789012', {
      userUuid: owner,
      amount: 1,
      idempotencyKey: 'nowhere',
    });
    assert.equal(missing.statusCode, 404);
  });

  it('when the token is missing, then it is 401 and nothing is debited', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 5_000n);
    const response = await service.app.inject({
      method: 'POST',
      url: `/internal/v1/accounts/${accountNo}/withdrawals`,
      payload: { userUuid, amount: 1_000, idempotencyKey: 'no-token' },
    });
    assert.equal(response.statusCode, 401);
    assert.equal(await balanceOf(service, accountNo), 5_000n);
  });

  it('when the amount is a float, a string, zero or above the limit, then it is 400 VALIDATION_FAILED', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    for (const amount of [1.5, '100', 0, -1, 100_000_001]) {
      const response = await service.app.inject({
        method: 'POST',
        url: `/internal/v1/accounts/${accountNo}/withdrawals`,
        headers: auth,
        payload: { userUuid, amount, idempotencyKey: 'bad-amount' },
      });
      assert.equal(response.statusCode, 400, `amount ${amount}`);
      assert.equal(response.json().code, 'VALIDATION_FAILED');
    }
  });
});
