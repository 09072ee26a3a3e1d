import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { Type } from 'typebox';
import {
  createMysqlDatabase,
  createPgDatabase,
  type Database,
  dropMysqlDatabase,
  dropPgDatabase,
  ensureMysqlDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '../../src/db.ts';
import { AppError } from '../../src/errors.ts';
import { createHttpApp } from '../../src/http.ts';
import {
  createIdempotencyStore,
  type IdempotencyDatabase,
  idempotencyMigrations,
  keyRow,
  keyTaken,
} from '../../src/idempotency.ts';
import { uuidv7 } from '../../src/ids.ts';
import { createMetrics } from '../../src/metrics.ts';
import { mysqlAdminUrl, pgAdminUrl, uniqueName } from './kafka-helpers.ts';

/** A tiny money-moving route: the counter stands for the effect that must happen once. */
function buildApp(database: Database<unknown>, leaseMs = 30_000) {
  const app = createHttpApp({
    name: 'idem-test',
    logger: pino({ level: 'silent' }),
    metrics: createMetrics('idem-test'),
  });
  const store = createIdempotencyStore(database.db, { leaseMs });
  const effects = { count: 0, operationIds: [] as string[] };
  app.post(
    '/things/:id/transfers',
    { schema: { params: Type.Object({ id: Type.String() }), body: Type.Object({ amount: Type.Integer() }) } },
    async (request, reply) =>
      store.handle(request, reply, String(request.headers['x-user-uuid']), async (operationId) => {
        effects.count += 1;
        effects.operationIds.push(operationId);
        // A header, not the body: it is no part of the request's fingerprint.
        await sleep(Number(request.headers['x-delay-ms'] ?? 20));
        const { amount } = request.body as { amount: number };
        if (amount > 1_000)
          throw new AppError('INSUFFICIENT_BALANCE', 409, 'Not enough money', { shortBy: amount - 1_000 });
        if (amount === 503) throw new AppError('CORE_UNAVAILABLE', 503, 'Core is down');
        return { statusCode: 201, body: { transferId: uuidv7(), amount } };
      }),
  );
  // A delegated route: the "owner" (this map) keeps each key's answer and replays it itself.
  const owner = new Map<string, { withdrawalId: string; amount: number }>();
  const delegated = { count: 0, repeats: 0 };
  app.post(
    '/things/:id/withdrawals',
    { schema: { params: Type.Object({ id: Type.String() }), body: Type.Object({ amount: Type.Integer() }) } },
    async (request, reply) =>
      store.handleDelegated(request, reply, String(request.headers['x-user-uuid']), async (repeat) => {
        delegated.count += 1;
        if (repeat) delegated.repeats += 1;
        const { amount } = request.body as { amount: number };
        if (amount === 503) throw new AppError('CORE_UNAVAILABLE', 503, 'Core is down');
        const ownerKey = `${String(request.headers['x-user-uuid'])} ${String(request.headers['idempotency-key'])}`;
        const stored = owner.get(ownerKey);
        if (stored !== undefined && repeat) reply.header('idempotent-replayed', 'true');
        const answer = stored ?? { withdrawalId: uuidv7(), amount };
        owner.set(ownerKey, answer);
        return { statusCode: 200, body: answer };
      }),
  );
  // An in-effect route: the effect writes the key's row itself, with the answer it knows beforehand
  // (here the effect is that row alone); an amount over 1,000 is refused before anything is written.
  const inEffect = { count: 0 };
  app.post(
    '/things/:id/charges',
    { schema: { params: Type.Object({ id: Type.String() }), body: Type.Object({ amount: Type.Integer() }) } },
    async (request, reply) =>
      store.handleInEffect(
        request,
        reply,
        String(request.headers['x-user-uuid']),
        async (operationId, binding) => {
          const { amount } = request.body as { amount: number };
          const db = database.db as Kysely<IdempotencyDatabase>;
          if (request.headers['x-race'] !== undefined && binding !== undefined) {
            // Another request with the key wins a race while this one is being refused.
            const won = { statusCode: 201, body: { won: true } };
            await db
              .insertInto('idempotency_keys')
              .values({ ...keyRow(binding, uuidv7(), won), locked_until: new Date() })
              .execute();
          }
          if (amount > 1_000)
            throw new AppError('INSUFFICIENT_BALANCE', 409, 'Not enough money', { shortBy: amount - 1_000 });
          if (amount === 503) throw new AppError('CORE_UNAVAILABLE', 503, 'Core is down');
          const answer = { statusCode: 201, body: { chargeId: operationId, amount } };
          if (binding !== undefined) {
            const row = { ...keyRow(binding, operationId, answer), locked_until: new Date() };
            const taken = await db
              .selectFrom('idempotency_keys')
              .select('operation_id')
              .where('user_uuid', '=', binding.userUuid)
              .where('idem_key', '=', binding.key)
              .executeTakeFirst();
            if (taken !== undefined) return keyTaken;
            await db.insertInto('idempotency_keys').values(row).execute();
          }
          inEffect.count += 1;
          return answer;
        },
      ),
  );
  return { app, effects, store, delegated, inEffect };
}

const dialects = [
  {
    name: 'PostgreSQL',
    create: async (name: string) => {
      await ensurePgDatabase(pgAdminUrl, name);
      return createPgDatabase<unknown>({
        url: pgAdminUrl.replace(/\/postgres$/, `/${name}`),
        poolSizeMax: 10,
        connectionTimeoutMs: 2_000,
        statementTimeoutMs: 5_000,
        applicationName: 'idem-test',
      });
    },
    drop: (name: string) => dropPgDatabase(pgAdminUrl, name),
    migrations: idempotencyMigrations('postgres'),
  },
  {
    name: 'MariaDB',
    create: async (name: string) => {
      await ensureMysqlDatabase(mysqlAdminUrl, name);
      return createMysqlDatabase<unknown>({
        url: `${mysqlAdminUrl}${name}`,
        poolSizeMax: 10,
        connectTimeoutMs: 2_000,
        statementTimeoutMs: 5_000,
      });
    },
    drop: (name: string) => dropMysqlDatabase(mysqlAdminUrl, name),
    migrations: idempotencyMigrations('mysql'),
  },
];

for (const dialect of dialects) {
  describe(`Idempotency-Key on ${dialect.name}`, { timeout: 60_000 }, () => {
    const databaseName = uniqueName('nuri_idem_test');
    let database: Database<unknown>;
    const user = uuidv7();
    const post = (
      app: ReturnType<typeof buildApp>['app'],
      key: string | undefined,
      amount: number,
      id = 'a',
      who = user,
    ) =>
      app.inject({
        method: 'POST',
        url: `/things/${id}/transfers`,
        headers: { 'x-user-uuid': who, ...(key === undefined ? {} : { 'idempotency-key': key }) },
        payload: { amount },
      });

    before(async () => {
      database = await dialect.create(databaseName);
      await migrateToLatest(database.db, dialect.migrations);
    });

    after(async () => {
      await database?.close();
      await dialect.drop(databaseName);
    });

    it('when the same key and body come twice, then the first response is replayed with Idempotent-Replayed and the effect happens once', async () => {
      const { app, effects } = buildApp(database);
      const first = await post(app, 'key-1', 100);
      const second = await post(app, 'key-1', 100);
      assert.equal(first.statusCode, 201);
      assert.equal(second.statusCode, 201);
      assert.deepEqual(second.json(), first.json());
      assert.equal(first.headers['idempotent-replayed'], undefined);
      assert.equal(second.headers['idempotent-replayed'], 'true');
      assert.equal(effects.count, 1);
    });

    it('when the same key comes with another body or on another resource, then 422 IDEMPOTENCY_KEY_REUSED and no effect', async () => {
      const { app, effects } = buildApp(database);
      await post(app, 'key-2', 100);
      const otherBody = await post(app, 'key-2', 200);
      const otherResource = await post(app, 'key-2', 100, 'b');
      assert.equal(otherBody.statusCode, 422);
      assert.equal(otherBody.json().code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(otherResource.statusCode, 422);
      assert.equal(effects.count, 1);
    });

    it('when another user sends the same key, then it is their own key', async () => {
      const { app, effects } = buildApp(database);
      await post(app, 'key-3', 100);
      const other = await post(app, 'key-3', 100, 'a', uuidv7());
      assert.equal(other.statusCode, 201);
      assert.equal(other.headers['idempotent-replayed'], undefined);
      assert.equal(effects.count, 2);
    });

    it('when the first answer was a 4xx, then the same problem is replayed without running again', async () => {
      const { app, effects } = buildApp(database);
      const first = await post(app, 'key-4', 5_000);
      const second = await post(app, 'key-4', 5_000);
      assert.equal(first.statusCode, 409);
      assert.equal(second.statusCode, 409);
      assert.equal(second.json().code, 'INSUFFICIENT_BALANCE');
      assert.equal(second.json().shortBy, 4_000);
      assert.equal(second.headers['idempotent-replayed'], 'true');
      assert.equal(effects.count, 1);
    });

    it('when the first answer was a 5xx, then nothing is stored and a retry runs again under the same operation id', async () => {
      const { app, effects } = buildApp(database);
      const first = await post(app, 'key-5', 503);
      const retry = await post(app, 'key-5', 503);
      assert.equal(first.statusCode, 503);
      assert.equal(retry.statusCode, 503);
      assert.equal(retry.headers['idempotent-replayed'], undefined);
      assert.equal(effects.count, 2);
      // The effect may have committed before the failure: the retry must name the same resource.
      assert.equal(effects.operationIds[1], effects.operationIds[0]);
    });

    it('when a request whose effect binds its own key is refused (4xx), then the refusal is bound to the key and replayed, and the key answers 422 for another body', async () => {
      const { app, inEffect } = buildApp(database);
      const charge = (key: string, amount: number) =>
        app.inject({
          method: 'POST',
          url: '/things/a/charges',
          headers: { 'x-user-uuid': user, 'idempotency-key': key },
          payload: { amount },
        });
      const first = await charge('key-ie-1', 5_000);
      assert.equal(first.statusCode, 409);
      assert.equal(first.headers['idempotent-replayed'], undefined);
      const again = await charge('key-ie-1', 5_000);
      assert.equal(again.statusCode, 409);
      assert.deepEqual([again.json().code, again.json().shortBy], ['INSUFFICIENT_BALANCE', 4_000]);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(
        (await charge('key-ie-1', 100)).statusCode,
        422,
        'the key is bound to the refused request',
      );
      // A 5xx binds nothing: the retry runs again, and its success is the key's answer.
      assert.equal((await charge('key-ie-2', 503)).statusCode, 503);
      const accepted = await charge('key-ie-2', 100);
      assert.equal(accepted.statusCode, 201);
      const replayed = await charge('key-ie-2', 100);
      assert.deepEqual(replayed.json(), accepted.json());
      assert.equal(replayed.headers['idempotent-replayed'], 'true');
      assert.equal(inEffect.count, 1);
    });

    it('when a key was claimed by handle and its owner died, then an in-effect request takes it over and runs under the claim\u2019s operation id, without binding the key again', async () => {
      const { app, inEffect } = buildApp(database, 50);
      const charge = () =>
        app.inject({
          method: 'POST',
          url: '/things/a/charges',
          headers: { 'x-user-uuid': user, 'idempotency-key': 'key-ie-4' },
          payload: { amount: 100 },
        });
      const first = await charge();
      assert.equal(first.statusCode, 201);
      // As a claim of `handle` whose process died before storing the answer (a rolling upgrade).
      await database.db
        .updateTable('idempotency_keys' as never)
        .set({ state: 'PENDING', status_code: null, response_body: null, locked_until: new Date(0) } as never)
        .where('idem_key' as never, '=', 'key-ie-4' as never)
        .execute();
      const retry = await charge();
      assert.equal(retry.statusCode, 201, retry.body);
      assert.equal(retry.json().chargeId, first.json().chargeId, 'the claim\u2019s operation id');
      const replay = await charge();
      assert.deepEqual(replay.json(), retry.json());
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal(inEffect.count, 2);
    });

    it('when a refused request finds its key bound meanwhile, then the key\u2019s own answer is given', async () => {
      const { app } = buildApp(database);
      const charge = (race: boolean) =>
        app.inject({
          method: 'POST',
          url: '/things/a/charges',
          headers: { 'x-user-uuid': user, 'idempotency-key': 'key-ie-3', ...(race ? { 'x-race': '1' } : {}) },
          payload: { amount: 5_000 },
        });
      const refused = await charge(true);
      assert.deepEqual([refused.statusCode, refused.json()], [201, { won: true }]);
      assert.equal(refused.headers['idempotent-replayed'], 'true');
      const again = await charge(false);
      assert.deepEqual([again.statusCode, again.json()], [201, { won: true }]);
    });

    it('when requests carry no key or different keys, then each run gets its own operation id', async () => {
      const { app, effects } = buildApp(database);
      await post(app, undefined, 100);
      await post(app, undefined, 100);
      await post(app, 'key-5b', 100);
      assert.equal(new Set(effects.operationIds).size, 3);
    });

    it('when ten requests with one key race, then the effect happens once and no one gets a different answer', async () => {
      const { app, effects } = buildApp(database);
      const responses = await Promise.all(Array.from({ length: 10 }, () => post(app, 'key-6', 300)));
      assert.equal(effects.count, 1);
      const created = responses.filter((response) => response.statusCode === 201);
      const inProgress = responses.filter((response) => response.statusCode === 409);
      assert.equal(created.length + inProgress.length, 10);
      assert.ok(created.length >= 1);
      for (const response of inProgress) assert.equal(response.json().code, 'IDEMPOTENCY_KEY_IN_PROGRESS');
      const settled = await post(app, 'key-6', 300);
      assert.deepEqual(settled.json(), created[0]!.json());
    });

    it('when the owner of a claim died (lease expired), then a retry takes over and runs once', async () => {
      const { app, effects } = buildApp(database, 50);
      const fingerprintSource = await post(app, 'key-7', 1); // completes normally: DONE rows are never taken over
      assert.equal(fingerprintSource.statusCode, 201);
      await database.db
        .updateTable('idempotency_keys' as never)
        .set({ state: 'PENDING', status_code: null, response_body: null } as never)
        .where('idem_key' as never, '=', 'key-7' as never)
        .execute();
      await sleep(80);
      const retry = await post(app, 'key-7', 1);
      assert.equal(retry.statusCode, 201);
      assert.equal(effects.count, 2);
      assert.equal(effects.operationIds[1], effects.operationIds[0], 'the taker re-runs under the same id');
    });

    it('when a slow original request ends after a retry took its lease over and answered, then the answer first stored stays the answer of the key', async () => {
      const { app } = buildApp(database, 100);
      const request = (delayMs: number) =>
        app.inject({
          method: 'POST',
          url: '/things/a/transfers',
          headers: { 'x-user-uuid': user, 'idempotency-key': 'key-late', 'x-delay-ms': String(delayMs) },
          payload: { amount: 5 },
        });
      const original = request(800);
      // Once the original's claim is written and its 100 ms lease has run out, the retry takes it over.
      for (let tries = 0; tries < 100; tries += 1) {
        const claimed = await database.db
          .selectFrom('idempotency_keys' as never)
          .select('idem_key' as never)
          .where('idem_key' as never, '=', 'key-late' as never)
          .executeTakeFirst();
        if (claimed !== undefined) break;
        await sleep(10);
      }
      await sleep(200);
      const takeover = await request(0);
      assert.equal(takeover.statusCode, 201);
      const late = await original;
      assert.equal(late.statusCode, 201);
      assert.notEqual(late.json().transferId, takeover.json().transferId, 'two runs, two answers');
      const replay = await post(app, 'key-late', 5);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal(
        replay.json().transferId,
        takeover.json().transferId,
        'the late original did not overwrite it',
      );
    });

    const withdraw = (
      app: ReturnType<typeof buildApp>['app'],
      key: string | undefined,
      amount: number,
      id = 'a',
    ) =>
      app.inject({
        method: 'POST',
        url: `/things/${id}/withdrawals`,
        headers: { 'x-user-uuid': user, ...(key === undefined ? {} : { 'idempotency-key': key }) },
        payload: { amount },
      });

    it('when a delegated request comes again with its key, then the owner is asked again as a repeat and its replayed answer comes back', async () => {
      const { app, delegated } = buildApp(database);
      const first = await withdraw(app, 'del-1', 100);
      const second = await withdraw(app, 'del-1', 100);
      assert.equal(first.statusCode, 200);
      assert.equal(first.headers['idempotent-replayed'], undefined);
      assert.equal(second.statusCode, 200);
      assert.deepEqual(second.json(), first.json());
      assert.equal(second.headers['idempotent-replayed'], 'true');
      assert.deepEqual(delegated, { count: 2, repeats: 1 });
      const [row] = await (database.db as Kysely<IdempotencyDatabase>)
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('idem_key', '=', 'del-1')
        .execute();
      assert.equal(row?.state, 'REMOTE', 'the key is bound; no answer is stored here');
      assert.equal(row?.response_body, null);
    });

    it('when a delegated key comes with another body, on another resource or on another route, then 422 and the owner is never asked', async () => {
      const { app, delegated, effects } = buildApp(database);
      await withdraw(app, 'del-2', 100);
      const otherBody = await withdraw(app, 'del-2', 200);
      const otherResource = await withdraw(app, 'del-2', 100, 'b');
      const otherRoute = await post(app, 'del-2', 100);
      for (const response of [otherBody, otherResource, otherRoute]) {
        assert.equal(response.statusCode, 422);
        assert.equal(response.json().code, 'IDEMPOTENCY_KEY_REUSED');
      }
      await post(app, 'del-3', 100);
      const stored = await withdraw(app, 'del-3', 100);
      assert.equal(stored.statusCode, 422, 'a key already used by a stored-answer route');
      assert.deepEqual(delegated, { count: 1, repeats: 0 });
      assert.equal(effects.count, 1);
    });

    it('when the owner failed (5xx), then the retry asks it again at once, as a repeat', async () => {
      const { app, delegated } = buildApp(database);
      const failed = await withdraw(app, 'del-4', 503);
      const retried = await withdraw(app, 'del-4', 503);
      assert.equal(failed.statusCode, 503);
      assert.equal(retried.statusCode, 503);
      assert.deepEqual(delegated, { count: 2, repeats: 1 });
    });

    it('when delegated requests carry no key, then each asks the owner as a first request', async () => {
      const { app, delegated } = buildApp(database);
      await withdraw(app, undefined, 100);
      await withdraw(app, undefined, 100);
      assert.deepEqual(delegated, { count: 2, repeats: 0 });
    });

    it('when the key is malformed, then 400 VALIDATION_FAILED and no effect', async () => {
      const { app, effects } = buildApp(database);
      for (const key of ['has space', 'x'.repeat(65), 'semi;colon']) {
        const response = await post(app, key, 100);
        assert.equal(response.statusCode, 400, key);
        assert.equal(response.json().code, 'VALIDATION_FAILED');
      }
      assert.equal(effects.count, 0);
    });

    // Last: it deletes every key of this database.
    it('when keys pass their retention, then purgeExpired deletes them a bounded batch at a time, and a key sent again is a new request', async () => {
      const { app, effects } = buildApp(database);
      for (const key of ['old-1', 'old-2', 'old-3'])
        assert.equal((await post(app, key, 100)).statusCode, 201);
      const kept = createIdempotencyStore(database.db);
      assert.equal(await kept.purgeExpired(10), 0, 'nothing is 48 hours old');
      await sleep(20);
      const expired = createIdempotencyStore(database.db, { retentionMs: 10 });
      let deleted = 0;
      for (let pass = 0; pass < 100; pass++) {
        const done = await expired.purgeExpired(2);
        assert.ok(done <= 2, `a pass deleted ${done}`);
        deleted += done;
        if (done === 0) break;
      }
      assert.ok(deleted >= 3, `${deleted} deleted`);
      const left = await (database.db as Kysely<IdempotencyDatabase>)
        .selectFrom('idempotency_keys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(left.n), 0);
      const again = await post(app, 'old-1', 100);
      assert.equal(again.statusCode, 201);
      assert.equal(again.headers['idempotent-replayed'], undefined);
      assert.equal(effects.count, 4, 'the key was forgotten, so the effect happened again');
    });
  });
}
