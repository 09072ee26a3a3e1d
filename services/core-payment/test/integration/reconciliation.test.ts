import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { auth, fund, openAccount, randomUserUuid, startService, type TestService } from './helpers.ts';

describe('reconciliation and the append-only ledger', { timeout: 60_000 }, () => {
  let service: TestService;
  let accountNo: string;
  before(async () => {
    service = await startService('reconcile');
    const userUuid = randomUserUuid();
    accountNo = await openAccount(service, userUuid);
    await openAccount(service, randomUserUuid());
    await fund(service, accountNo, userUuid, 7_000n);
    const response = await service.app.inject({
      method: 'POST',
      url: `/internal/v1/accounts/${accountNo}/withdrawals`,
      headers: auth,
      payload: { userUuid, amount: 2_500, idempotencyKey: 'w-1' },
    });
    assert.equal(response.statusCode, 200);
  });
  after(async () => {
    await service?.close();
  });

  async function report() {
    const response = await service.app.inject({ url: '/internal/v1/reconciliation', headers: auth });
    assert.equal(response.statusCode, 200);
    return response.json();
  }

  it('when the ledger was only written by the service, then the report is ok', async () => {
    const clean = await report();
    assert.equal(clean.ok, true);
    assert.equal(clean.accountsChecked, 2);
    assert.deepEqual(clean.balanceMismatches, []);
    assert.deepEqual(clean.unbalancedTransactions, []);
    assert.deepEqual(clean.duplicateApplications, []);
  });

  it('when someone edits or deletes a ledger entry in SQL, then the database refuses', async () => {
    await assert.rejects(
      sql`update ledger_entries set amount = amount + 1`.execute(service.database.db),
      /append-only/,
    );
    await assert.rejects(sql`delete from ledger_entries`.execute(service.database.db), /append-only/);
    await assert.rejects(sql`delete from ledger_transactions`.execute(service.database.db), /append-only/);
  });

  it('when a balance is tampered with directly in SQL, then the report names the account and is not ok', async () => {
    await sql`update accounts set balance = balance + 1 where account_no = ${accountNo}`.execute(
      service.database.db,
    );
    const tampered = await report();
    assert.equal(tampered.ok, false);
    assert.deepEqual(tampered.balanceMismatches, [{ accountNo, balance: 4_501, ledgerSum: 4_500 }]);
    assert.equal(
      (await service.app.inject({ url: '/internal/v1/reconciliation' })).statusCode,
      401,
      'the report needs the internal token',
    );
  });
});
