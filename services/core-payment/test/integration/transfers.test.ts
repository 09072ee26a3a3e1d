import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '@nuri/platform/ids';
import { createMetrics } from '@nuri/platform/metrics';
import { inBatches } from '@nuri/platform/periodic';
import { sql } from 'kysely';
import { buildApp } from '../../src/app.ts';
import { pruneTransferDailyTotals, transferTotalsKeptDays } from '../../src/db/transfers-repository.ts';
import {
  auth,
  balanceOf,
  brokers,
  fund,
  internalCallersForTests,
  openAccount,
  randomUserUuid,
  silentLogger,
  startService,
  type TestService,
} from './helpers.ts';

type App = TestService['app'];

describe('transfers', { timeout: 120_000 }, () => {
  let service: TestService;
  /** A second app on the same database with four lanes and small batches: concurrent batches, as with several instances. */
  let parallel: App;
  before(async () => {
    service = await startService('transfers', 20);
    parallel = buildApp({
      logger: silentLogger,
      metrics: createMetrics('core-payment-test-parallel'),
      database: service.database,
      kafkaBrokers: brokers,
      internalCallers: internalCallersForTests,
      transferBatching: { batchSizeMax: 8, lanes: 4, queueLengthMax: 1_000 },
    });
    await parallel.ready();
  });
  after(async () => {
    await parallel?.close();
    await service?.close();
  });

  const send = (
    body: {
      userUuid: string;
      fromAccountNo: string;
      toAccountNo: string;
      amount: number;
      memo?: string | null;
    },
    idempotencyKey: string = uuidv7(),
    app: App = service.app,
  ) =>
    app.inject({
      method: 'POST',
      url: '/internal/v1/transfers',
      headers: auth,
      payload: { ...body, idempotencyKey },
    });

  async function customer(cash: bigint) {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    if (cash > 0n) await fund(service, accountNo, userUuid, cash);
    return { userUuid, accountNo };
  }

  async function statement(accountNo: string, userUuid: string) {
    const response = await service.app.inject({
      url: `/internal/v1/accounts/${accountNo}/transactions?userUuid=${userUuid}&limit=100`,
      headers: auth,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().items as Array<Record<string, unknown>>;
  }

  async function reconciliation() {
    const response = await service.app.inject({ url: '/internal/v1/reconciliation', headers: auth });
    assert.equal(response.statusCode, 200);
    return response.json();
  }

  it('when a customer sends money, then both sides move in one transaction and each statement names the other side', async () => {
    const alice = await customer(10_000n);
    const bob = await customer(0n);
    const sent = await send({ ...route(alice, bob), amount: 3_000, memo: '  점심값 ' });
    assert.equal(sent.statusCode, 200, sent.body);
    const body = sent.json();
    assert.deepEqual(
      { ...body, transferId: typeof body.transferId, createdAt: typeof body.createdAt },
      {
        transferId: 'string',
        fromAccountNo: alice.accountNo,
        toAccountNo: bob.accountNo,
        amount: 3_000,
        balanceAfter: 7_000,
        memo: '점심값',
        createdAt: 'string',
      },
    );
    assert.equal(await balanceOf(service, alice.accountNo), 7_000n);
    assert.equal(await balanceOf(service, bob.accountNo), 3_000n);
    const [out] = await statement(alice.accountNo, alice.userUuid);
    assert.deepEqual(
      [out?.type, out?.amount, out?.balanceAfter, out?.reference, out?.memo, out?.counterparty],
      [
        'TRANSFER_OUT',
        3_000,
        7_000,
        body.transferId,
        '점심값',
        { userUuid: bob.userUuid, accountNoLast4: bob.accountNo.slice(-4) },
      ],
    );
    const [into] = await statement(bob.accountNo, bob.userUuid);
    assert.deepEqual(
      [into?.type, into?.amount, into?.balanceAfter, into?.memo, into?.counterparty],
      [
        'TRANSFER_IN',
        3_000,
        3_000,
        '점심값',
        { userUuid: alice.userUuid, accountNoLast4: alice.accountNo.slice(-4) },
      ],
    );
    const fetched = await service.app.inject({
      url: `/internal/v1/transfers/${body.transferId}?userUuid=${alice.userUuid}`,
      headers: auth,
    });
    assert.deepEqual(fetched.json(), body);
    for (const stranger of [bob.userUuid, randomUserUuid()]) {
      const hidden = await service.app.inject({
        url: `/internal/v1/transfers/${body.transferId}?userUuid=${stranger}`,
        headers: auth,
      });
      assert.deepEqual([hidden.statusCode, hidden.json().code], [404, 'TRANSFER_NOT_FOUND']);
    }
  });

  it('when a transfer is repeated with its key, then the first answer comes back and nothing moves again; another body is 422', async () => {
    const alice = await customer(10_000n);
    const bob = await customer(0n);
    const request = { ...route(alice, bob), amount: 1_000 };
    const first = await send(request, 'same-key');
    const again = await send(request, 'same-key');
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json(), first.json());
    assert.equal(await balanceOf(service, alice.accountNo), 9_000n);
    for (const other of [
      { ...request, amount: 999 },
      { ...request, memo: 'x' },
    ]) {
      const reused = await send(other, 'same-key');
      assert.deepEqual([reused.statusCode, reused.json().code], [422, 'IDEMPOTENCY_KEY_REUSED']);
    }
  });

  it('when the balance does not cover it, then 409 INSUFFICIENT_BALANCE, nothing moves, and a retry with the key gets the same refusal', async () => {
    const alice = await customer(500n);
    const bob = await customer(0n);
    const refused = await send({ ...route(alice, bob), amount: 501 }, 'poor-key');
    assert.deepEqual([refused.statusCode, refused.json().code], [409, 'INSUFFICIENT_BALANCE']);
    await fund(service, alice.accountNo, alice.userUuid, 1_000n);
    const replayed = await send({ ...route(alice, bob), amount: 501 }, 'poor-key');
    assert.deepEqual([replayed.statusCode, replayed.json().code], [409, 'INSUFFICIENT_BALANCE']);
    assert.equal(replayed.headers['idempotent-replayed'], 'true');
    assert.equal(await balanceOf(service, alice.accountNo), 1_500n);
    assert.equal(await balanceOf(service, bob.accountNo), 0n);
  });

  it('when an account is foreign, unknown or the same on both sides, or the memo is too long, then 404/400 with the code and nothing moves', async () => {
    const alice = await customer(5_000n);
    const bob = await customer(5_000n);
    const cases = [
      {
        body: {
          userUuid: alice.userUuid,
          fromAccountNo: bob.accountNo,
          toAccountNo: alice.accountNo,
          amount: 1,
        },
        status: 404,
        code: 'ACCOUNT_NOT_FOUND',
      },
      {
        body: { ...route(alice, bob), toAccountNo: '999-999-999999' },
        status: 404,
        code: 'RECIPIENT_NOT_FOUND',
      },
      {
        body: { ...route(alice, bob), toAccountNo: alice.accountNo },
        status: 400,
        code: 'VALIDATION_FAILED',
      },
      { body: { ...route(alice, bob), memo: '가'.repeat(21) }, status: 400, code: 'VALIDATION_FAILED' },
      { body: { ...route(alice, bob), memo: 'line\nbreak' }, status: 400, code: 'VALIDATION_FAILED' },
      { body: { ...route(alice, bob), amount: 0 }, status: 400, code: 'VALIDATION_FAILED' },
      { body: { ...route(alice, bob), amount: 100_000_001 }, status: 400, code: 'VALIDATION_FAILED' },
    ];
    for (const { body, status, code } of cases) {
      const response = await send(body);
      assert.deepEqual([response.statusCode, response.json().code], [status, code], JSON.stringify(body));
    }
    assert.equal(await balanceOf(service, alice.accountNo), 5_000n);
    assert.equal(await balanceOf(service, bob.accountNo), 5_000n);
  });

  it('when the recipient would pass 10^15, then 409 BALANCE_LIMIT_EXCEEDED and nothing moves', async () => {
    const alice = await customer(5_000n);
    const rich = await customer(999_999_999_999_999n);
    const refused = await send({ ...route(alice, rich), amount: 2 });
    assert.deepEqual([refused.statusCode, refused.json().code], [409, 'BALANCE_LIMIT_EXCEEDED']);
    assert.equal(await balanceOf(service, alice.accountNo), 5_000n);
    assert.equal((await send({ ...route(alice, rich), amount: 1 })).statusCode, 200);
  });

  it('when eight ₩1,000,000 transfers of one user race against the ₩5,000,000 daily limit, then exactly five pass, across the user’s accounts', async () => {
    const alice = await customer(6_000_000n);
    const second = await openAccount(service, alice.userUuid);
    await fund(service, second, alice.userUuid, 6_000_000n);
    const bob = await customer(0n);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        send(
          {
            userUuid: alice.userUuid,
            fromAccountNo: index % 2 === 0 ? alice.accountNo : second,
            toAccountNo: bob.accountNo,
            amount: 1_000_000,
          },
          `daily-${index}`,
          index % 3 === 0 ? parallel : service.app,
        ),
      ),
    );
    const statuses = answers.map((answer) => `${answer.statusCode} ${answer.json().code ?? ''}`.trim());
    assert.equal(statuses.filter((status) => status === '200').length, 5, statuses.join(', '));
    assert.equal(
      statuses.filter((status) => status === '409 DAILY_LIMIT_EXCEEDED').length,
      3,
      statuses.join(', '),
    );
    assert.equal(await balanceOf(service, bob.accountNo), 5_000_000n);
    const { rows } = await sql<{
      total: string;
    }>`select total from transfer_daily_totals where user_uuid = ${alice.userUuid}`.execute(
      service.database.db,
    );
    assert.deepEqual(
      rows.map((row) => row.total),
      ['5000000'],
    );
    // Refusals for funds do not use up the limit; the limit is the user's, not the account's.
    const poor = await customer(0n);
    assert.equal((await send({ ...route(poor, bob), amount: 1 })).json().code, 'INSUFFICIENT_BALANCE');
  });

  it('when daily totals of past days pile up, then the housekeeping pass deletes those more than a week old (a batch at a time) and keeps the week’s', async () => {
    const userUuid = randomUserUuid();
    const db = service.database.db;
    for (const daysAgo of [30, 9, 8, 7, 1, 0]) {
      await sql`insert into transfer_daily_totals (user_uuid, day, total)
        values (${userUuid}, (now() at time zone 'Asia/Seoul')::date - ${daysAgo}::integer, 1000)`.execute(
        db,
      );
    }
    const deleted = await inBatches(1, () => pruneTransferDailyTotals(db, transferTotalsKeptDays, 1));
    assert.ok(deleted >= 3, `deleted ${deleted}`);
    const { rows } = await sql<{ days_ago: number }>`
      select ((now() at time zone 'Asia/Seoul')::date - day) as days_ago
      from transfer_daily_totals where user_uuid = ${userUuid} order by day`.execute(db);
    assert.deepEqual(
      rows.map((row) => row.days_ago),
      [7, 1, 0],
    );
    assert.equal(
      await pruneTransferDailyTotals(db, transferTotalsKeptDays, 10),
      0,
      'a second pass finds nothing',
    );
  });

  it('when past days are pruned, then their rows are found by the day index, not by reading the whole table', async () => {
    const plan = await service.database.db.connection().execute(async (connection) => {
      // The table is a few rows here, where a scan is cheapest; a bank's is a row per user and day.
      await sql`set enable_seqscan = off`.execute(connection);
      try {
        const { rows } = await sql<{ 'QUERY PLAN': string }>`explain
          select user_uuid, day from transfer_daily_totals
          where day < (now() at time zone 'Asia/Seoul')::date - ${transferTotalsKeptDays}::integer
          limit 10`.execute(connection);
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      } finally {
        await sql`reset enable_seqscan`.execute(connection);
      }
    });
    assert.match(plan, /transfer_daily_totals_day/, plan);
  });

  it('when 100 transfers race around a ring of 10 accounts (and A→B against B→A), then none deadlocks, none goes negative, and the money is conserved', async () => {
    const ring = await Promise.all(Array.from({ length: 10 }, () => customer(10_000n)));
    const requests = Array.from({ length: 100 }, (_, index) => {
      const from = ring[index % 10]!;
      // Every fifth goes backwards: A→B and B→A in flight together.
      const to = ring[(index % 5 === 0 ? index + 9 : index + 1) % 10]!;
      return {
        userUuid: from.userUuid,
        fromAccountNo: from.accountNo,
        toAccountNo: to.accountNo,
        amount: randomInt(1, 3_000),
      };
    });
    const answers = await Promise.all(
      requests.map((request, index) =>
        send(request, `ring-${index}`, index % 2 === 0 ? service.app : parallel),
      ),
    );
    const expected = new Map(ring.map((account) => [account.accountNo, 10_000n]));
    answers.forEach((answer, index) => {
      const request = requests[index]!;
      if (answer.statusCode === 409) {
        assert.equal(answer.json().code, 'INSUFFICIENT_BALANCE');
        return;
      }
      assert.equal(answer.statusCode, 200, answer.body);
      expected.set(request.fromAccountNo, expected.get(request.fromAccountNo)! - BigInt(request.amount));
      expected.set(request.toAccountNo, expected.get(request.toAccountNo)! + BigInt(request.amount));
    });
    let total = 0n;
    for (const account of ring) {
      const balance = await balanceOf(service, account.accountNo);
      assert.ok(balance >= 0n);
      assert.equal(balance, expected.get(account.accountNo), account.accountNo);
      total += balance;
    }
    assert.equal(total, 100_000n);
    assert.ok(answers.filter((answer) => answer.statusCode === 200).length >= 50, 'most transfers moved');
  });

  it('when reconciliation runs after every transfer above, then the ledger, the money supply and the transfer records agree', async () => {
    const report = await reconciliation();
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.moneySupply.ok, true);
    assert.equal(report.moneySupply.transfersOut, report.moneySupply.transfersIn);
    assert.notEqual(report.moneySupply.transfersOut, '0');
    assert.deepEqual(report.transferMismatches, []);
  });

  it('when a transfer record has no ledger transaction, then reconciliation names it and is not ok', async () => {
    const alice = await customer(1_000n);
    const bob = await customer(0n);
    const sent = (await send({ ...route(alice, bob), amount: 10 })).json();
    // A record claiming a transfer the ledger never saw (written around the function).
    const ghost = '01890a5d-ac96-774b-bcce-b302099a8057';
    await sql`insert into transfers (transfer_id, user_uuid, idempotency_key, from_account_no, to_account_no, amount, status, balance_after)
      values (${ghost}, ${alice.userUuid}, 'ghost', ${alice.accountNo}, ${bob.accountNo}, 10, 'SUCCEEDED', 980)`.execute(
      service.database.db,
    );
    const report = await reconciliation();
    assert.equal(report.ok, false);
    assert.deepEqual(report.transferMismatches, [ghost]);
    assert.notEqual(report.transferMismatches[0], sent.transferId);
    await sql`delete from transfers where transfer_id = ${ghost}`.execute(service.database.db);
  });
});

function route(from: { userUuid: string; accountNo: string }, to: { accountNo: string }) {
  return { userUuid: from.userUuid, fromAccountNo: from.accountNo, toAccountNo: to.accountNo, amount: 100 };
}
