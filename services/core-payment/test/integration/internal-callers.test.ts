import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '@nuri/platform/ids';
import {
  balanceOf,
  couponToken,
  fund,
  gatewayToken,
  internalToken,
  openAccount,
  opsToken,
  randomUserUuid,
  startService,
  type TestService,
} from './helpers.ts';

// Each caller proves itself with its own token and reaches only its routes:
// a compromised coupon service, or a leaked operator token, moves no money.
describe('internal callers', { timeout: 60_000 }, () => {
  let service: TestService;
  let accountNo: string;
  const userUuid = randomUserUuid();
  const campaignId = uuidv7();
  before(async () => {
    service = await startService('callers');
    accountNo = await openAccount(service, userUuid);
    await fund(service, accountNo, userUuid, 10_000n);
  });
  after(async () => {
    await service?.close();
  });

  const call = (token: string, method: 'GET' | 'POST', url: string, payload?: object) =>
    service.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
  const withdrawal = () => ({ userUuid, amount: 1_000, idempotencyKey: uuidv7() });

  it('when coupon or the operator asks to withdraw, open an account or read one, then 403 FORBIDDEN and no money moves', async () => {
    for (const token of [couponToken, opsToken]) {
      const attempts = [
        await call(token, 'POST', `/internal/v1/accounts/${accountNo}/withdrawals`, withdrawal()),
        await call(token, 'POST', '/internal/v1/accounts', { userUuid: randomUserUuid() }),
        await call(token, 'GET', `/internal/v1/accounts/${accountNo}?userUuid=${userUuid}`),
        await call(token, 'GET', `/internal/v1/users/${userUuid}/accounts`),
      ];
      for (const response of attempts) {
        assert.equal(response.statusCode, 403, response.body);
        assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
        assert.equal(response.json().code, 'FORBIDDEN');
      }
    }
    assert.equal(await balanceOf(service, accountNo), 10_000n);
  });

  it('when the gateway presents its token, even for a report, then the core does not know it (401) and no money moves', async () => {
    for (const [method, url] of [
      ['GET', '/internal/v1/reconciliation'],
      ['GET', '/internal/v1/ops/outbox'],
      ['GET', `/internal/v1/accounts/${accountNo}?userUuid=${userUuid}`],
    ] as const) {
      const response = await call(gatewayToken, method, url);
      assert.equal(response.statusCode, 401, response.body);
      assert.equal(response.json().code, 'UNAUTHENTICATED');
    }
    const debit = await call(
      gatewayToken,
      'POST',
      `/internal/v1/accounts/${accountNo}/withdrawals`,
      withdrawal(),
    );
    assert.equal(debit.statusCode, 401);
    assert.equal(await balanceOf(service, accountNo), 10_000n);
  });

  it('when each caller calls what it was given, then it is answered', async () => {
    const recorded = `/internal/v1/coupon-campaigns/${campaignId}/recorded-count`;
    assert.equal((await call(couponToken, 'GET', recorded)).statusCode, 200);
    assert.equal((await call(opsToken, 'GET', recorded)).statusCode, 200);
    assert.equal((await call(opsToken, 'GET', '/internal/v1/reconciliation')).statusCode, 200);
    assert.equal((await call(couponToken, 'GET', '/internal/v1/reconciliation')).statusCode, 403);
    const outbox = await call(opsToken, 'GET', '/internal/v1/ops/outbox');
    assert.equal(outbox.statusCode, 200, outbox.body);
    assert.ok(Number.isInteger(outbox.json().pending));
    assert.equal((await call(couponToken, 'GET', '/internal/v1/ops/outbox')).statusCode, 403);
    const debit = await call(
      internalToken,
      'POST',
      `/internal/v1/accounts/${accountNo}/withdrawals`,
      withdrawal(),
    );
    assert.equal(debit.statusCode, 200, debit.body);
    assert.equal(await balanceOf(service, accountNo), 9_000n);
  });

  it('when the token is nobody’s, then 401 UNAUTHENTICATED, on known and unknown routes alike', async () => {
    const stranger = 'z'.repeat(48);
    for (const url of [`/internal/v1/accounts/${accountNo}/withdrawals`, '/internal/v1/no-such-route']) {
      const response = await call(stranger, 'POST', url, withdrawal());
      assert.equal(response.statusCode, 401, url);
      assert.equal(response.json().code, 'UNAUTHENTICATED');
    }
  });
});
