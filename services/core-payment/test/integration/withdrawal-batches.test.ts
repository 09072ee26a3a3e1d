import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppError } from '@nuri/platform/errors';
import { uuidv7 } from '@nuri/platform/ids';
import { sql } from 'kysely';
import { createWithdrawalStore } from '../../src/db/withdrawals-repository.ts';
import { type WithdrawalRequest, type WithdrawalStore, withdraw } from '../../src/domain/withdrawals.ts';
import {
  balanceOf,
  fund,
  openAccount,
  randomUserUuid,
  startService,
  type TestService,
  waitUntil,
} from './helpers.ts';

// Group commit: requests submitted in the same event-loop turn leave as one
// batch, one transaction. These tests submit without awaiting in between, and
// prove the batch by the outcome rows' created_at: now() is the transaction's
// start, the same for every row of one transaction.
describe('withdrawals in batches', { timeout: 60_000 }, () => {
  let service: TestService;
  before(async () => {
    service = await startService('withdrawal_batches');
  });
  after(async () => {
    await service?.close();
  });

  function storeWith(limits: { lanes?: number; queueLengthMax?: number } = {}): WithdrawalStore {
    return createWithdrawalStore(service.database.db, {
      batchSizeMax: 64,
      lanes: limits.lanes ?? 1,
      queueLengthMax: limits.queueLengthMax ?? 1_000,
    });
  }

  /** The answer as the route would give it: a withdrawal, or the AppError's status and code. */
  async function answerOf(promise: Promise<unknown>): Promise<unknown> {
    try {
      return await promise;
    } catch (error) {
      if (error instanceof AppError) return `${error.status} ${error.code}`;
      throw error;
    }
  }

  async function fundedAccount(balance: bigint) {
    const userUuid = randomUserUuid();
    const accountNo = await openAccount(service, userUuid);
    if (balance > 0n) await fund(service, accountNo, userUuid, balance);
    return { userUuid, accountNo };
  }

  async function outcomeRows(userUuid: string) {
    return service.database.db
      .selectFrom('withdrawals')
      .select(['idempotency_key', 'status', 'balance_after', 'created_at'])
      .where('user_uuid', '=', userUuid)
      .orderBy('idempotency_key')
      .execute();
  }

  async function withdrawalLedgerRows(accountNo: string) {
    return service.database.db
      .selectFrom('ledger_transactions')
      .select(['reference', 'amount'])
      .where('account_no', '=', accountNo)
      .where('type', '=', 'WITHDRAWAL')
      .execute();
  }

  it('when one batch carries the same key twice, then the second is a replay of the first: one debit, one answer', async () => {
    const { userUuid, accountNo } = await fundedAccount(5_000n);
    const store = storeWith();
    const request: WithdrawalRequest = { accountNo, userUuid, amount: 700n, idempotencyKey: 'twice' };
    const refused: WithdrawalRequest = { ...request, amount: 9_000n, idempotencyKey: 'twice-too-much' };
    const answers = await Promise.all([
      answerOf(withdraw(store, request)),
      answerOf(withdraw(store, request)),
      answerOf(withdraw(store, refused)),
      answerOf(withdraw(store, refused)),
      answerOf(withdraw(store, { ...request, amount: 800n })),
    ]);
    const first = answers[0] as { withdrawalId: string; balanceAfter: bigint };
    assert.equal(first.balanceAfter, 4_300n);
    assert.deepEqual(answers, [
      first,
      first,
      '409 INSUFFICIENT_BALANCE',
      '409 INSUFFICIENT_BALANCE',
      '422 IDEMPOTENCY_KEY_REUSED',
    ]);
    assert.equal(await balanceOf(service, accountNo), 4_300n);
    assert.deepEqual(
      (await withdrawalLedgerRows(accountNo)).map((row) => row.reference),
      [first.withdrawalId],
    );
    const rows = await outcomeRows(userUuid);
    assert.deepEqual(
      rows.map((row) => [row.idempotency_key, row.status]),
      [
        ['twice', 'SUCCEEDED'],
        ['twice-too-much', 'REJECTED'],
      ],
    );
    assert.equal(rows[0]!.created_at.getTime(), rows[1]!.created_at.getTime(), 'one transaction');
  });

  it('when one batch mixes a success, a lack of funds, an unknown, a foreign and a closed account, then each gets its own answer', async () => {
    const rich = await fundedAccount(5_000n);
    const poor = await fundedAccount(100n);
    const closed = await fundedAccount(1_000n);
    await sql`update accounts set status = 'CLOSED' where account_no = ${closed.accountNo}`.execute(
      service.database.db,
    );
    const store = storeWith();
    const answers = await Promise.all([
      answerOf(withdraw(store, { ...rich, amount: 1_000n, idempotencyKey: 'a' })),
      answerOf(withdraw(store, { ...poor, amount: 1_000n, idempotencyKey: 'b' })),
      answerOf(withdraw(store, { ...rich, accountNo: '123-456-789012', amount: 1n, idempotencyKey: 'c' })),
      answerOf(withdraw(store, { ...rich, userUuid: poor.userUuid, amount: 1n, idempotencyKey: 'd' })),
      answerOf(withdraw(store, { ...closed, amount: 1n, idempotencyKey: 'e' })),
      // In request order on one account: 3,000 of the 4,000 left, then 3,000 of the 1,000 left.
      answerOf(withdraw(store, { ...rich, amount: 3_000n, idempotencyKey: 'f' })),
      answerOf(withdraw(store, { ...rich, amount: 3_000n, idempotencyKey: 'g' })),
      answerOf(withdraw(store, { ...poor, amount: 100n, idempotencyKey: 'h' })),
    ]);
    const balances = answers.map((answer) =>
      typeof answer === 'string' ? answer : (answer as { balanceAfter: bigint }).balanceAfter,
    );
    assert.deepEqual(balances, [
      4_000n,
      '409 INSUFFICIENT_BALANCE',
      '404 ACCOUNT_NOT_FOUND',
      '404 ACCOUNT_NOT_FOUND',
      '409 ACCOUNT_CLOSED',
      1_000n,
      '409 INSUFFICIENT_BALANCE',
      0n,
    ]);
    assert.equal(await balanceOf(service, rich.accountNo), 1_000n);
    assert.equal(await balanceOf(service, poor.accountNo), 0n);
    assert.equal(await balanceOf(service, closed.accountNo), 1_000n);
    assert.equal((await withdrawalLedgerRows(rich.accountNo)).length, 2);
    assert.equal((await withdrawalLedgerRows(poor.accountNo)).length, 1);
    assert.equal((await withdrawalLedgerRows(closed.accountNo)).length, 0);
    // Refusals for lack of funds are recorded (and replayed); unknown, foreign and closed are not.
    const richRows = await outcomeRows(rich.userUuid);
    const poorRows = await outcomeRows(poor.userUuid);
    assert.deepEqual(
      [...richRows, ...poorRows].map((row) => `${row.idempotency_key} ${row.status}`),
      ['a SUCCEEDED', 'f SUCCEEDED', 'g REJECTED', 'b REJECTED', 'h SUCCEEDED'],
    );
    assert.equal((await outcomeRows(closed.userUuid)).length, 0);
    assert.equal(new Set([...richRows, ...poorRows].map((row) => row.created_at.getTime())).size, 1);
    // Each success's ledger leg carries the balance its answer gave.
    const legs = await service.database.db
      .selectFrom('ledger_entries')
      .select(['balance_after'])
      .where('account_no', '=', rich.accountNo)
      .where('type', '=', 'WITHDRAWAL')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      legs.map((leg) => leg.balance_after),
      ['4000', '1000'],
    );
  });

  it('when a twin in another transaction claims a key while the batch runs, then that item replays it and the rest of the batch is applied once', async () => {
    const { userUuid, accountNo } = await fundedAccount(5_000n);
    const other = await fundedAccount(5_000n);
    const store = storeWith({ lanes: 2 });
    const twinId = uuidv7();
    let releaseTwin!: () => void;
    const twinHeld = new Promise<void>((resolve) => {
      releaseTwin = resolve;
    });
    // The twin: another instance's transaction that has claimed the key and not committed yet.
    const twin = service.database.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('withdrawals')
        .values({
          user_uuid: userUuid,
          idempotency_key: 'twin',
          withdrawal_id: twinId,
          account_no: accountNo,
          amount: 700n,
          status: 'SUCCEEDED',
          failure_code: null,
          balance_after: 4_300n,
        })
        .execute();
      await twinHeld;
    });
    const answers = Promise.all([
      answerOf(withdraw(store, { userUuid, accountNo, amount: 700n, idempotencyKey: 'twin' })),
      answerOf(withdraw(store, { userUuid, accountNo, amount: 200n, idempotencyKey: 'bystander' })),
      answerOf(withdraw(store, { ...other, amount: 300n, idempotencyKey: 'elsewhere' })),
    ]);
    await waitUntil(
      'the batch to wait for the twin',
      async () => {
        const { rows } = await sql<{ waiting: string }>`
          select count(*) as waiting from pg_stat_activity
          where datname = current_database() and wait_event = 'transactionid'`.execute(service.database.db);
        return Number(rows[0]!.waiting) > 0;
      },
      10_000,
    );
    releaseTwin();
    await twin;
    const [twinAnswer, bystander, elsewhere] = (await answers) as {
      withdrawalId: string;
      balanceAfter: bigint;
    }[];
    assert.deepEqual(twinAnswer, { withdrawalId: twinId, accountNo, amount: 700n, balanceAfter: 4_300n });
    assert.equal(bystander!.balanceAfter, 4_800n, 'the batch ran again without the twin debit');
    assert.equal(elsewhere!.balanceAfter, 4_700n);
    assert.equal(await balanceOf(service, accountNo), 4_800n);
    assert.equal(await balanceOf(service, other.accountNo), 4_700n);
    assert.equal((await withdrawalLedgerRows(accountNo)).length, 1);
    assert.equal((await withdrawalLedgerRows(other.accountNo)).length, 1);
  });

  it('when the same keys race through two service instances, then each key is debited once and both get the same answer', async () => {
    const { userUuid, accountNo } = await fundedAccount(100_000n);
    const [first, second] = [storeWith({ lanes: 2 }), storeWith({ lanes: 2 })];
    const keys = Array.from({ length: 40 }, (_, index) => `race-${index}`);
    const answers = await Promise.all(
      keys.flatMap((idempotencyKey) =>
        [first, second].map((store) =>
          answerOf(withdraw(store, { userUuid, accountNo, amount: 1_000n, idempotencyKey })),
        ),
      ),
    );
    for (let index = 0; index < keys.length; index += 1)
      assert.deepEqual(answers[2 * index], answers[2 * index + 1], keys[index]);
    assert.equal(await balanceOf(service, accountNo), 60_000n);
    assert.equal((await withdrawalLedgerRows(accountNo)).length, 40);
  });

  it('when more withdrawals wait than the queue holds, then the extra ones are refused at once with 503 and nothing moves for them', async () => {
    const { userUuid, accountNo } = await fundedAccount(5_000n);
    const store = storeWith({ queueLengthMax: 1 });
    let releaseLock!: () => void;
    const lockHeld = new Promise<void>((resolve) => {
      releaseLock = resolve;
    });
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = service.database.db.transaction().execute(async (trx) => {
      await sql`select 1 from accounts where account_no = ${accountNo} for update`.execute(trx);
      locked();
      await lockHeld;
    });
    await lockTaken;
    const running = answerOf(withdraw(store, { userUuid, accountNo, amount: 100n, idempotencyKey: 'q1' }));
    await waitUntil(
      'the first batch to wait for the account lock',
      async () => {
        const { rows } = await sql<{ waiting: string }>`
          select count(*) as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(service.database.db);
        return Number(rows[0]!.waiting) > 0;
      },
      10_000,
    );
    const queued = answerOf(withdraw(store, { userUuid, accountNo, amount: 100n, idempotencyKey: 'q2' }));
    const refused = await answerOf(
      withdraw(store, { userUuid, accountNo, amount: 100n, idempotencyKey: 'q3' }),
    );
    assert.equal(refused, '503 SERVICE_UNAVAILABLE');
    releaseLock();
    await holder;
    assert.equal(((await running) as { balanceAfter: bigint }).balanceAfter, 4_900n);
    assert.equal(((await queued) as { balanceAfter: bigint }).balanceAfter, 4_800n);
    assert.equal(await balanceOf(service, accountNo), 4_800n);
    assert.deepEqual(
      (await outcomeRows(userUuid)).map((row) => row.idempotency_key),
      ['q1', 'q2'],
    );
  });
});
