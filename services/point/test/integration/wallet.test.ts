import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createMysqlDatabase,
  dropMysqlDatabase,
  ensureMysqlDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { uuidv7 } from '@nuri/platform/ids';
import { databaseUrl } from '@nuri/platform/service';
import { uniqueName } from '@nuri/platform/testing';
import { sql } from 'kysely';
import type { ServiceDb } from '../../src/db/database.ts';
import { migrations } from '../../src/db/migrations.ts';
import { createPaymentRepository } from '../../src/db/payments-repository.ts';
import { createWalletStore } from '../../src/db/wallets-repository.ts';
import { decide } from '../../src/domain/payment-saga.ts';
import { listHistory } from '../../src/domain/points.ts';
import { paymentRequestedMessage } from '../../src/events/payment-requested.ts';
import { historyOf, mysqlAdminUrl, newUser, pointBalance, startPoint, type TestPoint } from './helpers.ts';

describe('point wallets: balance, charge, history', { timeout: 60_000 }, () => {
  let point: TestPoint;
  before(async () => {
    point = await startPoint('wallet');
  });
  after(async () => {
    await point?.close();
  });

  it('when a new user asks for the balance, then it is 0 and no wallet row is created', async () => {
    const user = await newUser();
    const response = await point.app.inject({ method: 'GET', url: '/api/v1/points', headers: user.headers });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { balance: 0 });
    assert.equal(
      (
        await point.database.db
          .selectFrom('point_wallets')
          .select('user_uuid')
          .where('user_uuid', '=', user.userUuid)
          .execute()
      ).length,
      0,
    );
  });

  it('when a user charges twice, then the balance adds up and each charge is a CHARGE row with its balance after', async () => {
    const user = await newUser();
    for (const amount of [3_000, 1_000_000]) {
      const response = await point.app.inject({
        method: 'POST',
        url: '/api/v1/points/charge',
        headers: user.headers,
        payload: { amount },
      });
      assert.equal(response.statusCode, 200);
    }
    const balance = await point.app.inject({ method: 'GET', url: '/api/v1/points', headers: user.headers });
    assert.deepEqual(balance.json(), { balance: 1_003_000 });
    assert.equal(await pointBalance(point, user.userUuid), 1_003_000n);
    const rows = await historyOf(point, user.userUuid);
    assert.deepEqual(
      rows.map((row) => [row.type, row.amount, row.balance_after, row.payment_id]),
      [
        ['CHARGE', '3000', '3000', null],
        ['CHARGE', '1000000', '1003000', null],
      ],
    );
  });

  it('when a charge is not a whole number of points in 1–1,000,000, then 400 VALIDATION_FAILED and nothing is charged', async () => {
    const user = await newUser();
    const bad: unknown[] = [0, -1, 1.5, '100', 1_000_001, null, 1e20];
    for (const amount of bad) {
      const response = await point.app.inject({
        method: 'POST',
        url: '/api/v1/points/charge',
        headers: user.headers,
        payload: { amount },
      });
      assert.equal(response.statusCode, 400, `amount ${JSON.stringify(amount)}`);
      assert.equal(response.json().code, 'VALIDATION_FAILED');
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
    }
    const missing = await point.app.inject({
      method: 'POST',
      url: '/api/v1/points/charge',
      headers: user.headers,
      payload: {},
    });
    assert.equal(missing.statusCode, 400);
    assert.equal(await pointBalance(point, user.userUuid), 0n);
  });

  it('when a request has no or a bad access token, then 401 UNAUTHENTICATED on every user route', async () => {
    const routes = [
      { method: 'GET' as const, url: '/api/v1/points' },
      { method: 'POST' as const, url: '/api/v1/points/charge', payload: { amount: 10 } },
      { method: 'GET' as const, url: '/api/v1/points/history' },
      {
        method: 'POST' as const,
        url: '/api/v1/payments',
        payload: { accountNo: '110-000-000000', cashAmount: 1, pointAmount: 0 },
      },
      { method: 'GET' as const, url: '/api/v1/payments/0192f5a8-5c1e-7a3b-8c4d-1234567890ab' },
    ];
    for (const route of routes) {
      for (const headers of [{}, { authorization: 'Bearer not.a.token' }]) {
        const response = await point.app.inject({ ...route, headers });
        assert.equal(response.statusCode, 401, `${route.method} ${route.url}`);
        assert.equal(response.json().code, 'UNAUTHENTICATED');
      }
    }
  });

  it('when a charge is retried with the same Idempotency-Key, then the first answer is replayed and the points are added once', async () => {
    const user = await newUser();
    const send = (amount: number) =>
      point.app.inject({
        method: 'POST',
        url: '/api/v1/points/charge',
        headers: { ...user.headers, 'idempotency-key': 'charge-1' },
        payload: { amount },
      });
    const first = await send(500);
    const replay = await send(500);
    assert.equal(first.statusCode, 200);
    assert.equal(replay.statusCode, 200);
    assert.deepEqual(replay.json(), first.json());
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    const reused = await send(700);
    assert.equal(reused.statusCode, 422);
    assert.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(await pointBalance(point, user.userUuid), 500n);
    assert.equal((await historyOf(point, user.userUuid)).length, 1);
  });

  it('when the history spans pages, then it comes newest first with an opaque cursor until nextCursor is null', async () => {
    const user = await newUser();
    for (let amount = 1; amount <= 5; amount += 1) {
      await point.app.inject({
        method: 'POST',
        url: '/api/v1/points/charge',
        headers: user.headers,
        payload: { amount },
      });
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${encodeURIComponent(cursor)}`;
      const response = await point.app.inject({
        method: 'GET',
        url: `/api/v1/points/history${query}`,
        headers: user.headers,
      });
      assert.equal(response.statusCode, 200);
      const page = response.json<{
        items: { amount: number; type: string; balanceAfter: number; paymentId?: string }[];
        nextCursor: string | null;
      }>();
      for (const item of page.items) {
        assert.equal(item.type, 'CHARGE');
        assert.equal('paymentId' in item, false);
      }
      seen.push(...page.items.map((item) => item.amount));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null);
    assert.deepEqual(seen, [5, 4, 3, 2, 1]);
    assert.equal(pages, 3);
    const defaults = await point.app.inject({
      method: 'GET',
      url: '/api/v1/points/history',
      headers: user.headers,
    });
    assert.equal(defaults.json().items.length, 5);
    assert.equal(defaults.json().nextCursor, null);
  });

  it('when the page limit or cursor is invalid, then 400 VALIDATION_FAILED', async () => {
    const user = await newUser();
    for (const query of ['?limit=0', '?limit=101', '?limit=abc', '?cursor=nonsense', '?limit=1.5']) {
      const response = await point.app.inject({
        method: 'GET',
        url: `/api/v1/points/history${query}`,
        headers: user.headers,
      });
      assert.equal(response.statusCode, 400, query);
      assert.equal(response.json().code, 'VALIDATION_FAILED');
    }
  });
});

describe('point charges retried after a lost answer', { timeout: 60_000 }, () => {
  let point: TestPoint;
  before(async () => {
    point = await startPoint('wallet_retry');
  });
  after(async () => {
    await point?.close();
  });

  it('when the same charge id is applied twice, then the points are charged once and the balance is answered', async () => {
    const user = await newUser();
    const wallets = createWalletStore(point.database.db);
    const chargeId = uuidv7();
    assert.equal(await wallets.charge(user.userUuid, 2_500n, chargeId), 2_500n);
    assert.equal(await wallets.charge(user.userUuid, 2_500n, chargeId), 2_500n);
    assert.equal(await pointBalance(point, user.userUuid), 2_500n);
    const charges = (await historyOf(point, user.userUuid)).filter((row) => row.type === 'CHARGE');
    assert.equal(charges.length, 1);
  });

  it('when a charge whose first attempt failed is retried later, then its row is listed as written then, newest first', async () => {
    const user = await newUser();
    const wallets = createWalletStore(point.database.db);
    // The key's operation id was made when the first attempt claimed it; that attempt wrote nothing.
    const chargeId = uuidv7();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(await wallets.charge(user.userUuid, 100n, uuidv7()), 100n, 'a charge in between');
    assert.equal(await wallets.charge(user.userUuid, 40n, chargeId), 140n, 'the retry, later');
    const listed = await wallets.history(user.userUuid, 10, undefined);
    assert.deepEqual(
      listed.map((item) => [item.amount, item.balanceAfter]),
      [
        [40n, 140n],
        [100n, 100n],
      ],
      'newest first, each balance following from the one below it',
    );
    assert.equal(
      await wallets.charge(user.userUuid, 40n, chargeId),
      140n,
      'and a retry of it is still found',
    );
    assert.equal((await historyOf(point, user.userUuid)).length, 2);
  });

  it('when a payment waits in its lane while a charge of the same user commits, then history lists them in the order they were written, across pages', async () => {
    const wallets = createWalletStore(point.database.db);
    // One lane, one payment a batch: a payment queues behind the one before it.
    const payments = createPaymentRepository(point.database.db, {
      requestCash: (payment, attempt) => paymentRequestedMessage('payment.requested', payment, attempt),
      retryPolicy: point.retryPolicy,
      startBatching: { batchSizeMax: 1, lanes: 1, queueLengthMax: 10 },
    });
    const [blocker, user] = [await newUser(), await newUser()];
    await wallets.charge(blocker.userUuid, 1_000n, uuidv7());
    await wallets.charge(user.userUuid, 1_000n, uuidv7());
    const pay = (userUuid: string, pointAmount: bigint) => {
      const paymentId = uuidv7();
      return payments.start(
        {
          paymentId,
          userUuid,
          orderId: paymentId,
          accountNo: '123-456-789012',
          cashAmount: 0n,
          pointAmount,
          merchant: null,
        },
        decide({ status: 'NEW', cashAmount: 0n, pointAmount, attempts: 0 }, { type: 'ACCEPTED' }),
      );
    };
    // Another session holds the blocker's wallet: the lane's first payment waits on it.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = point.database.db.transaction().execute(async (trx) => {
      await sql`select balance from point_wallets where user_uuid = ${blocker.userUuid} for update`.execute(
        trx,
      );
      locked();
      await released;
    });
    await isLocked;
    const first = pay(blocker.userUuid, 100n);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const queued = pay(user.userUuid, 300n);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(
      await wallets.charge(user.userUuid, 50n, uuidv7()),
      1_050n,
      'the charge, while the payment waits',
    );
    release();
    await holder;
    assert.deepEqual([(await first).kind, (await queued).kind], ['started', 'started']);
    const written = [
      ['USE', 300n, 750n],
      ['CHARGE', 50n, 1_050n],
      ['CHARGE', 1_000n, 1_000n],
    ];
    const listed = await wallets.history(user.userUuid, 10, undefined);
    assert.deepEqual(
      listed.map((item) => [item.type, item.amount, item.balanceAfter]),
      written,
      'newest first: the USE committed last, and its balance counts the charge below it',
    );
    const paged = [];
    let cursor: string | undefined;
    do {
      const page = await listHistory(wallets, user.userUuid, 1, cursor);
      paged.push(...page.items.map((item) => [item.type, item.amount, item.balanceAfter]));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    assert.deepEqual(paged, written, 'page by page too');
    // A cursor issued before the write order (it names the last row listed by id) still reads on.
    const legacy = Buffer.from(JSON.stringify({ before: listed[0]?.id })).toString('base64url');
    assert.deepEqual(
      (await listHistory(wallets, user.userUuid, 10, legacy)).items.map((item) => item.type),
      ['CHARGE', 'CHARGE'],
    );
    const othersRow = (await wallets.history(blocker.userUuid, 1, undefined))[0]?.id;
    const foreign = Buffer.from(JSON.stringify({ before: othersRow })).toString('base64url');
    assert.deepEqual(
      (await listHistory(wallets, user.userUuid, 10, foreign)).items,
      [],
      "another user's row names nothing",
    );
  });

  it('when history written before its write order was kept is migrated, then its rows are numbered in their id order, and new rows follow', async () => {
    const name = uniqueName('it_point_seq_upgrade').toLowerCase();
    await ensureMysqlDatabase(mysqlAdminUrl, name);
    const database = createMysqlDatabase<ServiceDb>({
      url: databaseUrl(mysqlAdminUrl, name),
      poolSizeMax: 2,
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 30_000,
    });
    try {
      const { '0007_history_seq': historySeq, ...before } = migrations;
      assert.ok(historySeq !== undefined);
      await migrateToLatest(database.db, before);
      const userUuid = uuidv7();
      const ids = [uuidv7(), uuidv7(), uuidv7()];
      // Inserted out of id order: the migration numbers them as their ids sort.
      for (const [index, id] of [
        [1, ids[1]],
        [2, ids[2]],
        [0, ids[0]],
      ] as const) {
        await sql`insert into point_history (id, user_uuid, type, amount, balance_after, charge_id)
          values (${id}, ${userUuid}, 'CHARGE', ${index + 1}, ${index + 1}, ${id})`.execute(database.db);
      }
      await migrateToLatest(database.db, migrations);
      const wallets = createWalletStore(database.db);
      await wallets.charge(userUuid, 10n, uuidv7());
      const listed = await wallets.history(userUuid, 10, undefined);
      assert.deepEqual(
        listed.map((item) => item.id),
        [listed[0]?.id, ids[2], ids[1], ids[0]],
      );
      assert.deepEqual(
        listed.map((item) => item.amount),
        [10n, 3n, 2n, 1n],
        'newest first: the new charge, then the old rows by id',
      );
    } finally {
      await database.close();
      await dropMysqlDatabase(mysqlAdminUrl, name);
    }
  });

  it('when a charge that filled the wallet to its cap is retried, then it is found and answered, not refused for the cap', async () => {
    const user = await newUser();
    const wallets = createWalletStore(point.database.db);
    const chargeId = uuidv7();
    // The cap is 10^15: the first charge brings the wallet exactly to it.
    await wallets.charge(user.userUuid, 10n ** 15n - 1_000n, uuidv7());
    assert.equal(await wallets.charge(user.userUuid, 1_000n, chargeId), 10n ** 15n);
    assert.equal(
      await wallets.charge(user.userUuid, 1_000n, chargeId),
      10n ** 15n,
      'the retry of that charge',
    );
    assert.equal(await wallets.charge(user.userUuid, 1n, uuidv7()), undefined, 'a new charge past the cap');
  });

  it('when one user charges 30 times at once, then every charge lands (no deadlock answered as an error)', async () => {
    const user = await newUser();
    const wallets = createWalletStore(point.database.db);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => wallets.charge(user.userUuid, 10n, uuidv7())),
    );
    const failed = results.filter((result) => result.status === 'rejected');
    assert.deepEqual(
      failed.map((result) => String((result as PromiseRejectedResult).reason)),
      [],
    );
    assert.equal(await pointBalance(point, user.userUuid), 300n);
  });
});
