import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@nuri/platform/logger';
import { createRedis } from '@nuri/platform/redis';
import { createAdminConsole } from '../../src/admin/console.ts';
import { createAdminIdempotency } from '../../src/admin/idempotency.ts';
import { createRefusalCounter } from '../../src/admin/refusals.ts';
import { createServiceReports } from '../../src/admin/service-reports.ts';
import { startGateway, type TestGateway } from './helpers.ts';

// The operator console's API on the gateway app, against fake services and
// real Redis: a service or a broker that does not answer is reported as such
// (never a 500, never a hang), the gateway presents its own token, refusals
// add up across instances, and an Idempotency-Key replays the first answer.

const silent = createLogger({ name: 'gateway-admin-test', level: 'silent' });
const adminToken = randomBytes(32).toString('base64url');
const gatewayToken = randomBytes(32).toString('base64url');
/** Nothing listens there: the broker is "down" at once. */
const deadBroker = '127.0.0.1:1';
const adminTimeoutMs = 1_500;

let gateway: TestGateway;
const refusalPrefix = `rl-refusals-test-${randomBytes(4).toString('hex')}`;

before(async () => {
  gateway = await startGateway({
    upstreamTimeoutMs: adminTimeoutMs,
    admin: ({ services, redis }) => ({
      adminToken,
      idempotency: createAdminIdempotency(redis, `admin-idem-test-${randomBytes(4).toString('hex')}`),
      console: createAdminConsole({
        services,
        gateways: undefined,
        self: {
          url: 'http://127.0.0.1:1',
          process: { pid: process.pid, startedAt: new Date().toISOString() },
        },
        reports: createServiceReports({
          upstreams: services,
          token: gatewayToken,
          timeoutMs: adminTimeoutMs,
          logger: silent,
        }),
        refusals: createRefusalCounter({ redis, logger: silent, keyPrefix: refusalPrefix }),
        kafka: { brokers: [deadBroker], topicPrefix: 'admin-test.', groups: [{ group: 'g', topics: ['t'] }] },
        timeoutMs: adminTimeoutMs,
        logger: silent,
      }),
    }),
  });
});

after(async () => {
  await gateway?.close();
});

function call(method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return gateway.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${adminToken}`, ...headers },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

describe('reports from services', () => {
  it('when one service answers its outbox and another fails, then each is listed, the failing one unreachable', async () => {
    gateway.upstreams.point.answer = (seen) =>
      seen.url === '/internal/v1/ops/outbox'
        ? { status: 200, contentType: 'application/json', body: '{"pending":3,"oldestAgeSeconds":12}' }
        : { status: 404 };
    // channel-user's fake also stands in for the core in these tests.
    gateway.upstreams['channel-user'].answer = () => ({ status: 500, body: 'boom' });
    const answer = await call('GET', '/api/v1/admin/outbox');
    assert.equal(answer.statusCode, 200, answer.body);
    assert.deepEqual(answer.json(), {
      items: [
        { service: 'channel-user', reachable: false, pending: null, oldestAgeSeconds: null },
        { service: 'core-payment', reachable: false, pending: null, oldestAgeSeconds: null },
        { service: 'point', reachable: true, pending: 3, oldestAgeSeconds: 12 },
      ],
    });
    const asked = gateway.upstreams.point.seen.at(-1);
    assert.equal(
      asked?.headers.authorization,
      `Bearer ${gatewayToken}`,
      'the gateway presents its own token',
    );
    assert.equal(asked?.headers['x-user-uuid'], undefined);
  });

  it('when point answers payments in another shape, then 503 names point and nothing internal', async () => {
    gateway.upstreams.point.answer = () => ({
      status: 200,
      contentType: 'application/json',
      body: '{"byStatus":{}}',
    });
    const answer = await call('GET', '/api/v1/admin/payments');
    assert.equal(answer.statusCode, 503, answer.body);
    assert.equal(answer.json().code, 'UPSTREAM_UNAVAILABLE');
    assert.doesNotMatch(answer.body, /internal|127\.0\.0\.1/);
  });

  it('when a service hangs past the time allowed, then the reconciliation answers in time, not ok, naming it', async () => {
    gateway.upstreams.point.answer = () => ({ status: 200, delayMs: adminTimeoutMs * 3, body: '{}' });
    const startedAt = Date.now();
    const answer = await call('POST', '/api/v1/admin/reconciliations');
    assert.ok(Date.now() - startedAt < adminTimeoutMs * 2.5, 'bounded by the admin timeout');
    assert.equal(answer.statusCode, 200, answer.body);
    const body = answer.json();
    assert.equal(body.ok, false);
    const point = body.services.find((section: { service: string }) => section.service === 'point');
    assert.deepEqual(point.checks, [
      { name: 'the service answered', ok: false, detail: 'it could not be asked (unavailable or too slow)' },
    ]);
    // A slow report says nothing about point's health for customers.
    assert.equal(gateway.services.point.readyCount(), 1);
  });
});

describe('the broker down', () => {
  it('when the broker cannot be reached, then the lag says brokerReachable false, in time', async () => {
    const startedAt = Date.now();
    const answer = await call('GET', '/api/v1/admin/kafka/lag');
    assert.ok(Date.now() - startedAt < adminTimeoutMs * 2, 'bounded');
    assert.equal(answer.statusCode, 200, answer.body);
    assert.deepEqual(answer.json(), { items: [], brokerReachable: false });
  });

  it('when the dead letters cannot be read, then 503 BROKER_UNAVAILABLE, in time', async () => {
    const startedAt = Date.now();
    const answer = await call('GET', '/api/v1/admin/dlq');
    assert.ok(Date.now() - startedAt < adminTimeoutMs * 2, 'bounded');
    assert.equal(answer.statusCode, 503, answer.body);
    assert.equal(answer.json().code, 'BROKER_UNAVAILABLE');
  });

  it('when a replay body is invalid, then 400 before the broker is asked', async () => {
    for (const payload of [
      {},
      { refs: [] },
      { refs: ['not a ref'] },
      { all: 'yes' },
      { refs: ['a.dlq/0/1'], all: true },
    ]) {
      const answer = await call('POST', '/api/v1/admin/dlq/replays', payload);
      assert.equal(answer.statusCode, 400, JSON.stringify(payload));
      assert.equal(answer.json().code, 'VALIDATION_FAILED');
    }
    const tooMany = Array.from({ length: 101 }, (_unused, index) => `a.dlq/0/${index}`);
    assert.equal((await call('POST', '/api/v1/admin/dlq/replays', { refs: tooMany })).statusCode, 400);
    assert.equal((await call('GET', '/api/v1/admin/dlq?limit=501')).statusCode, 400);
  });
});

describe('services', () => {
  it('when the probes have run, then every service is listed with its zone and this gateway last', async () => {
    const answer = await call('GET', '/api/v1/admin/services');
    assert.equal(answer.statusCode, 200, answer.body);
    const items = answer.json().items as Array<{
      service: string;
      zone: string;
      ready: number;
      total: number;
    }>;
    assert.deepEqual(
      items.map((item) => `${item.service}:${item.zone}`),
      [
        'channel-user:channel',
        'point:channel',
        'coupon:channel',
        'core-user:core',
        'core-payment:core',
        'gateway:edge',
      ],
    );
    for (const item of items) assert.equal(item.total, 1, item.service);
  });
});

describe('refusals', () => {
  it('when two gateway instances refuse, then the last hour adds both; a limiter never refusing counts 0', async () => {
    const redis = createRedis({ url: 'redis://127.0.0.1:6379', name: 'refusals-test' });
    const first = createRefusalCounter({ redis, logger: silent, keyPrefix: refusalPrefix });
    const second = createRefusalCounter({ redis, logger: silent, keyPrefix: refusalPrefix });
    try {
      first.count('login');
      first.count('login');
      second.count('login');
      second.count('signup');
      await second.flush();
      const counts = await first.read(['login', 'signup', 'health']);
      assert.deepEqual(counts, [
        { limiter: 'login', refusals: 3 },
        { limiter: 'signup', refusals: 1 },
        { limiter: 'health', refusals: 0 },
      ]);
      const answer = await call('GET', '/api/v1/admin/rate-limits');
      assert.equal(answer.statusCode, 200, answer.body);
      assert.deepEqual(answer.json(), {
        windowSeconds: 3600,
        items: [
          { limiter: 'general', refusals: 0 },
          { limiter: 'signup', refusals: 1 },
          { limiter: 'login', refusals: 3 },
          { limiter: 'health', refusals: 0 },
        ],
      });
    } finally {
      await first.close();
      await second.close();
      redis.disconnect();
    }
  });
});

describe('idempotency', () => {
  it('when a key is used again with the same body, then the first answer comes back; with another body, 422', async () => {
    const idempotency = createAdminIdempotency(
      gateway.redis,
      `admin-idem-test-${randomBytes(4).toString('hex')}`,
    );
    let runs = 0;
    const work = async () => {
      runs += 1;
      return { replayed: [`x.dlq/0/${runs}`], skipped: [] };
    };
    const first = await idempotency.once('dlq-replays', 'key-1', { all: true }, work);
    const second = await idempotency.once('dlq-replays', 'key-1', { all: true }, work);
    assert.deepEqual(second, { answer: first.answer, replayed: true });
    assert.equal(runs, 1, 'the work ran once');
    await assert.rejects(idempotency.once('dlq-replays', 'key-1', { all: true, again: true }, work), {
      code: 'IDEMPOTENCY_KEY_REUSED',
      status: 422,
    });
    const running = idempotency.once('dlq-replays', 'key-2', { all: true }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return 'done';
    });
    await assert.rejects(idempotency.once('dlq-replays', 'key-2', { all: true }, work), {
      code: 'IDEMPOTENCY_KEY_IN_PROGRESS',
      status: 409,
    });
    assert.equal((await running).answer, 'done');
    const noKey = await idempotency.once('dlq-replays', undefined, { all: true }, work);
    assert.equal(noKey.replayed, false);
    assert.equal(runs, 2, 'without a key every call runs');
  });

  it('when the key is malformed, then 400 before anything runs', async () => {
    const answer = await call(
      'POST',
      '/api/v1/admin/dlq/replays',
      { all: true },
      { 'idempotency-key': 'bad key!' },
    );
    assert.equal(answer.statusCode, 400, answer.body);
    assert.equal(answer.json().code, 'VALIDATION_FAILED');
  });
});
