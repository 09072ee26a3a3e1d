import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isValidAccountNo } from '../../src/domain/account-number.ts';
import { auth, fund, openAccount, randomUserUuid, startService, type TestService } from './helpers.ts';

describe('accounts', { timeout: 60_000 }, () => {
  let service: TestService;
  before(async () => {
    service = await startService('accounts');
  });
  after(async () => {
    await service?.close();
  });

  it('when an account is opened with a padded alias, then it is ACTIVE with balance 0, a Luhn-valid number and the trimmed alias', async () => {
    const userUuid = randomUserUuid();
    const response = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: auth,
      payload: { userUuid, alias: '  생활비  ' },
    });
    assert.equal(response.statusCode, 201);
    const body = response.json();
    assert.ok(isValidAccountNo(body.accountNo), body.accountNo);
    assert.deepEqual(
      { ...body, accountNo: undefined, openedAt: undefined },
      {
        accountNo: undefined,
        userUuid,
        alias: '생활비',
        balance: 0,
        currency: 'KRW',
        status: 'ACTIVE',
        openedAt: undefined,
      },
    );
    assert.ok(!Number.isNaN(Date.parse(body.openedAt)));
    const row = await service.database.db
      .selectFrom('accounts')
      .selectAll()
      .where('account_no', '=', body.accountNo)
      .executeTakeFirstOrThrow();
    assert.equal(row.user_uuid, userUuid);
    assert.equal(row.balance, '0');
  });

  it('when no alias is given, then alias is null; a blank alias is a 400', async () => {
    const userUuid = randomUserUuid();
    const plain = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: auth,
      payload: { userUuid },
    });
    assert.equal(plain.json().alias, null);
    const blank = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: auth,
      payload: { userUuid, alias: '   ' },
    });
    assert.equal(blank.statusCode, 400);
    assert.equal(blank.json().code, 'VALIDATION_FAILED');
    const tooLong = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: auth,
      payload: { userUuid, alias: 'x'.repeat(31) },
    });
    assert.equal(tooLong.statusCode, 400);
    // NUL cannot be stored in PostgreSQL at all (was a 500); other control characters are refused alike.
    for (const alias of ['a\u0000b', 'a\u001fb', 'a\u0085b']) {
      const control = await service.app.inject({
        method: 'POST',
        url: '/internal/v1/accounts',
        headers: auth,
        payload: { userUuid, alias },
      });
      assert.equal(control.statusCode, 400, JSON.stringify(alias));
      assert.equal(control.json().code, 'VALIDATION_FAILED');
    }
  });

  it('when 8 opens for one user race, then exactly 5 succeed and 3 get 409 ACCOUNT_LIMIT_REACHED', async () => {
    const userUuid = randomUserUuid();
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        service.app.inject({
          method: 'POST',
          url: '/internal/v1/accounts',
          headers: auth,
          payload: { userUuid },
        }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode).sort();
    assert.deepEqual(statuses, [201, 201, 201, 201, 201, 409, 409, 409]);
    for (const refused of responses.filter((response) => response.statusCode === 409)) {
      assert.equal(refused.json().code, 'ACCOUNT_LIMIT_REACHED');
    }
    const list = await service.app.inject({ url: `/internal/v1/users/${userUuid}/accounts`, headers: auth });
    assert.equal(list.json().items.length, 5);
    const { count } = await service.database.db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('user_uuid', '=', userUuid)
      .executeTakeFirstOrThrow();
    assert.equal(Number(count), 5);
  });

  it('when an opening is sent twice with one open key (its first answer lost), then one account: 201, then 200 with the same account', async () => {
    const userUuid = randomUserUuid();
    const open = () =>
      service.app.inject({
        method: 'POST',
        url: '/internal/v1/accounts',
        headers: auth,
        payload: { userUuid, alias: '월급', openKey: '01970000-0000-7000-8000-000000000001' },
      });
    const first = await open();
    const second = await open();
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(second.statusCode, 200, second.body);
    assert.deepEqual(second.json(), first.json());
    const rows = await service.database.db
      .selectFrom('accounts')
      .select(['account_no', 'open_key'])
      .where('user_uuid', '=', userUuid)
      .execute();
    assert.deepEqual(rows, [
      { account_no: first.json().accountNo, open_key: '01970000-0000-7000-8000-000000000001' },
    ]);
    const otherAlias = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: auth,
      payload: { userUuid, alias: '여행', openKey: '01970000-0000-7000-8000-000000000001' },
    });
    assert.equal(otherAlias.statusCode, 422);
    assert.equal(otherAlias.json().code, 'IDEMPOTENCY_KEY_REUSED');
    const sameKeyOtherUser = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: auth,
      payload: { userUuid: randomUserUuid(), openKey: '01970000-0000-7000-8000-000000000001' },
    });
    assert.equal(sameKeyOtherUser.statusCode, 201, 'the key is per user');
  });

  it('when retries of one keyed opening race, then exactly one account is opened and all get it', async () => {
    const userUuid = randomUserUuid();
    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        service.app.inject({
          method: 'POST',
          url: '/internal/v1/accounts',
          headers: auth,
          payload: { userUuid, openKey: 'race-key' },
        }),
      ),
    );
    assert.deepEqual(responses.map((response) => response.statusCode).sort(), [200, 200, 200, 200, 200, 201]);
    assert.equal(new Set(responses.map((response) => response.json().accountNo)).size, 1);
    const list = await service.app.inject({ url: `/internal/v1/users/${userUuid}/accounts`, headers: auth });
    assert.equal(list.json().items.length, 1);
  });

  it('when a user at the limit repeats the keyed opening of their fifth account, then that account comes back; a new key is 409', async () => {
    const userUuid = randomUserUuid();
    const open = (openKey: string) =>
      service.app.inject({
        method: 'POST',
        url: '/internal/v1/accounts',
        headers: auth,
        payload: { userUuid, openKey },
      });
    const opened: string[] = [];
    for (let index = 1; index <= 5; index += 1) {
      const response = await open(`key-${index}`);
      assert.equal(response.statusCode, 201, response.body);
      opened.push(response.json().accountNo);
    }
    const repeat = await open('key-5');
    assert.equal(repeat.statusCode, 200, repeat.body);
    assert.equal(repeat.json().accountNo, opened[4]);
    const sixth = await open('key-6');
    assert.equal(sixth.statusCode, 409);
    assert.equal(sixth.json().code, 'ACCOUNT_LIMIT_REACHED');
    const list = await service.app.inject({ url: `/internal/v1/users/${userUuid}/accounts`, headers: auth });
    assert.deepEqual(
      list
        .json()
        .items.map((item: { accountNo: string }) => item.accountNo)
        .sort(),
      [...opened].sort(),
    );
  });

  it('when an account is read with another userUuid, then it is 404 ACCOUNT_NOT_FOUND like a missing one', async () => {
    const owner = randomUserUuid();
    const accountNo = await openAccount(service, owner);
    const own = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}?userUuid=${owner}`,
      headers: auth,
    });
    assert.equal(own.statusCode, 200);
    assert.equal(own.json().accountNo, accountNo);
    const foreign = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}?userUuid=${randomUserUuid()}`,
      headers: auth,
    });
    assert.equal(foreign.statusCode, 404);
    assert.equal(foreign.json().code, 'ACCOUNT_NOT_FOUND');
    const missing = await service.app.inject({ url: '/internal/v1/accounts/000-000-000000', headers: auth });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'ACCOUNT_NOT_FOUND');
  });

  it('when a call has no or a wrong internal token, then it is 401 and health stays open', async () => {
    const none = await service.app.inject({ url: `/internal/v1/users/${randomUserUuid()}/accounts` });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, 'UNAUTHENTICATED');
    const intruder = randomUserUuid();
    const wrong = await service.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts',
      headers: { authorization: 'Bearer not-the-token' },
      payload: { userUuid: intruder },
    });
    assert.equal(wrong.statusCode, 401);
    const opened = await service.database.db
      .selectFrom('accounts')
      .select('account_no')
      .where('user_uuid', '=', intruder)
      .execute();
    assert.deepEqual(opened, []);
    const live = await service.app.inject({ url: '/health/live' });
    assert.equal(live.statusCode, 200);
  });

  it('when an account has 25 movements, then transactions page newest first with a cursor, and a forged cursor is a 400', async () => {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    for (let index = 1; index <= 25; index += 1) await fund(service, accountNo, userUuid, BigInt(index));
    const first = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?limit=10&userUuid=${userUuid}`,
      headers: auth,
    });
    assert.equal(first.statusCode, 200);
    const page1 = first.json();
    assert.equal(page1.items.length, 10);
    assert.deepEqual(
      page1.items.map((item: { amount: number }) => item.amount),
      [25, 24, 23, 22, 21, 20, 19, 18, 17, 16],
    );
    assert.equal(page1.items[0].type, 'DEPOSIT');
    assert.equal(page1.items[0].balanceAfter, (25 * 26) / 2);
    const seen = [...page1.items];
    let cursor: string | null = page1.nextCursor;
    while (cursor !== null) {
      const next = await service.app.inject({
        url: `/internal/v1/accounts/${accountNo}/transactions?limit=10&cursor=${encodeURIComponent(cursor)}`,
        headers: auth,
      });
      const page = next.json();
      seen.push(...page.items);
      cursor = page.nextCursor;
    }
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen.map((item: { id: string }) => item.id)).size, 25);
    assert.equal(seen.at(-1).amount, 1);

    const forged = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?cursor=bm90LWEtY3Vyc29y`,
      headers: auth,
    });
    assert.equal(forged.statusCode, 400);
    assert.equal(forged.json().code, 'VALIDATION_FAILED');
    const tooMany = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?limit=101`,
      headers: auth,
    });
    assert.equal(tooMany.statusCode, 400);
    const foreign = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?userUuid=${randomUserUuid()}`,
      headers: auth,
    });
    assert.equal(foreign.statusCode, 404);
  });
});
