import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { runServer } from '@nuri/platform/http';
import { createLogger } from '@nuri/platform/logger';
import { createRedis } from '@nuri/platform/redis';
import { createKeyScope } from '../../src/key-scope.ts';
import { newSigningKey, randomUserUuid, signToken, startGateway, type TestGateway } from './helpers.ts';

let gateway: TestGateway;
let userUuid: string;
let token: string;

before(async () => {
  gateway = await startGateway({ upstreamTimeoutMs: 500 });
  userUuid = randomUserUuid();
  token = await signToken(gateway.keys[0]!, userUuid);
});

beforeEach(() => {
  for (const upstream of Object.values(gateway.upstreams)) upstream.seen.length = 0;
});

after(async () => {
  await gateway?.close();
});

function call(method: 'GET' | 'POST', url: string, headers: Record<string, string> = {}, payload?: string) {
  return gateway.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
}

const bearer = () => ({ authorization: `Bearer ${token}` });

describe('routing', () => {
  test('when a public path is called, then it reaches its owning channel service with the path and query unchanged', async () => {
    const cases: Array<[string, keyof TestGateway['upstreams']]> = [
      ['/api/v1/me', 'channel-user'],
      ['/api/v1/accounts', 'channel-user'],
      ['/api/v1/accounts/110-200-000001/transactions?limit=5&cursor=abc', 'channel-user'],
      ['/api/v1/deposits/01890a5d-ac96-774b-bcce-b302099a8057', 'channel-user'],
      ['/api/v1/points', 'point'],
      ['/api/v1/points/history?limit=3', 'point'],
      ['/api/v1/payments/x', 'point'],
      ['/api/v1/coupon-campaigns/c1', 'coupon'],
      ['/api/v1/coupons', 'coupon'],
    ];
    for (const [url, owner] of cases) {
      const response = await call('GET', url, bearer());
      assert.equal(response.statusCode, 200, url);
      assert.deepEqual(response.json(), { from: owner });
      assert.equal(gateway.upstreams[owner].seen.at(-1)?.url, url);
    }
  });

  test('when a path is internal, unknown or ambiguous, then 404 problem+json and nothing is forwarded', async () => {
    for (const url of [
      '/internal/v1/users',
      '/internal/v1/account-links/110-200-000001?userUuid=x',
      '/api/v1/nope',
      '/api/v2/accounts',
      '/api/v1/accounts/../../internal/v1/users',
      '/api/v1/accounts/%2e%2e/%2e%2e/internal/v1/users',
      '/api/v1/accounts//x',
      '/api/v1/accounts/%2Finternal',
    ]) {
      const response = await call('GET', url, bearer());
      assert.equal(response.statusCode, 404, url);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
      assert.equal(response.json().code, 'NOT_FOUND');
    }
    const forwarded = Object.values(gateway.upstreams).flatMap((upstream) => upstream.seen);
    assert.deepEqual(
      forwarded.filter((seen) => seen.url !== '/.well-known/jwks.json'),
      [],
    );
  });

  test('when the upstream answers, then status, body, content-type and API headers pass through unchanged', async () => {
    const body = JSON.stringify({ type: 't', code: 'INSUFFICIENT_BALANCE', status: 409 });
    const original = gateway.upstreams['channel-user'].answer;
    gateway.upstreams['channel-user'].answer = () => ({
      status: 409,
      body,
      contentType: 'application/problem+json; charset=utf-8',
      headers: { 'idempotent-replayed': 'true' },
    });
    const response = await call(
      'POST',
      '/api/v1/accounts/110-200-000001/withdrawals',
      { ...bearer(), 'content-type': 'application/json' },
      '{"amount":1}',
    );
    assert.equal(response.statusCode, 409);
    assert.equal(response.body, body);
    assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(response.headers['idempotent-replayed'], 'true');
    const seen = gateway.upstreams['channel-user'].seen.at(-1)!;
    assert.equal(seen.body, '{"amount":1}');
    assert.equal(seen.headers['content-type'], 'application/json');
    gateway.upstreams['channel-user'].answer = original;
  });

  test('when malformed JSON or injection strings are sent, then the gateway forwards the bytes untouched for the owner to judge', async () => {
    const payload = `{"amount": "1; DROP TABLE accounts; --", "$where": "1==1"`;
    await call('POST', '/api/v1/accounts', { ...bearer(), 'content-type': 'application/json' }, payload);
    assert.equal(gateway.upstreams['channel-user'].seen.at(-1)?.body, payload);
  });

  test('when the body exceeds 64 KiB, then 413 at the gateway and nothing is forwarded', async () => {
    const payload = JSON.stringify({ alias: 'x'.repeat(70_000) });
    const response = await call(
      'POST',
      '/api/v1/accounts',
      { ...bearer(), 'content-type': 'application/json' },
      payload,
    );
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().code, 'PAYLOAD_TOO_LARGE');
    assert.equal(gateway.upstreams['channel-user'].seen.length, 0);
  });

  test('when the upstream is slow or down, then 504 UPSTREAM_TIMEOUT or 503 UPSTREAM_UNAVAILABLE with Retry-After, without internals', async () => {
    gateway.upstreams.point.answer = () => ({ status: 200, body: '{}', delayMs: 2_500 });
    const slow = await call('GET', '/api/v1/points', bearer());
    assert.equal(slow.statusCode, 504);
    assert.equal(slow.json().code, 'UPSTREAM_TIMEOUT');
    gateway.upstreams.point.answer = () => ({
      status: 200,
      body: '{"from":"point"}',
      contentType: 'application/json',
    });
    const down = await startGateway();
    await down.upstreams.coupon.close();
    const failed = await down.app.inject({
      method: 'GET',
      url: '/api/v1/coupons',
      headers: { authorization: `Bearer ${await signToken(down.keys[0]!, userUuid)}` },
    });
    await down.close();
    assert.equal(failed.statusCode, 503);
    assert.equal(failed.json().code, 'UPSTREAM_UNAVAILABLE');
    assert.equal(failed.headers['retry-after'], '1');
    assert.ok(!failed.body.includes('127.0.0.1'));
  });
});

describe('Idempotency-Keys across services', () => {
  const keyed = (url: string, key: string, as = token) =>
    call('POST', url, { authorization: `Bearer ${as}`, 'idempotency-key': key }, '{"amount":1000}');

  test('when a user uses one key at point and then at channel-user, then the second is 422 IDEMPOTENCY_KEY_REUSED and is not forwarded', async () => {
    const key = `k-${randomUserUuid()}`;
    assert.equal((await keyed('/api/v1/points/charge', key)).statusCode, 200);
    assert.equal((await keyed('/api/v1/points/charge', key)).statusCode, 200, 'its own service again');
    assert.equal(gateway.upstreams.point.seen.length, 2);
    for (const url of [
      '/api/v1/accounts/110-200-000001/withdrawals',
      '/api/v1/transfers',
      '/api/v1/accounts',
    ]) {
      const refused = await keyed(url, key);
      assert.equal(refused.statusCode, 422, url);
      assert.equal(refused.json().code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
    }
    // A percent escape routes to transfers all the same, so it is checked all the same.
    assert.equal((await keyed('/api/v1/transfer%73', key)).statusCode, 422);
    assert.equal(gateway.upstreams['channel-user'].seen.length, 0, 'nothing reached channel-user');
    // The other way round, and another user with the same key: their own.
    const other = `k-${randomUserUuid()}`;
    assert.equal((await keyed('/api/v1/accounts/110-200-000001/deposits', other)).statusCode, 200);
    assert.equal((await keyed('/api/v1/payments', other)).statusCode, 422);
    const stranger = await signToken(gateway.keys[0]!, randomUserUuid());
    assert.equal((await keyed('/api/v1/payments', other, stranger)).statusCode, 200, 'a key is per user');
  });

  test('when a key is malformed, sent on a route that takes none, or claims cannot reach Redis, then the request goes to its service unchecked', async () => {
    const key = `k-${randomUserUuid()}`;
    assert.equal((await keyed('/api/v1/points/charge', key)).statusCode, 200);
    // Routes that keep no keys, and a key the service will refuse with 400, claim nothing.
    assert.equal((await keyed('/api/v1/coupon-campaigns/c1/issue', key)).statusCode, 200);
    assert.equal((await keyed('/api/v1/auth/logout', key)).statusCode, 200);
    assert.equal((await keyed('/api/v1/transfers', 'not a key!')).statusCode, 200);
    assert.equal((await keyed('/api/v1/points/charge', 'not a key!')).statusCode, 200);
    const unreachable = createRedis({
      url: 'redis://127.0.0.1:1',
      name: 'gateway-keys-test-down',
      maxRetriesPerRequest: 0,
      commandTimeoutMs: 250,
    });
    unreachable.on('error', () => undefined);
    const lines: string[] = [];
    const logger = createLogger({
      name: 'test',
      level: 'warn',
      destination: { write: (line) => void lines.push(line) },
    });
    const alone = await startGateway({ keyScope: createKeyScope({ redis: unreachable, logger }) });
    try {
      const own = await signToken(alone.keys[0]!, userUuid);
      const send = (url: string) =>
        alone.app.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${own}`, 'idempotency-key': key },
          payload: '{"amount":1000}',
        });
      assert.equal((await send('/api/v1/points/charge')).statusCode, 200);
      assert.equal((await send('/api/v1/transfers')).statusCode, 200, 'unchecked, not refused');
      assert.equal(
        lines.filter((line) => line.includes('Idempotency-Key claims cannot reach Redis')).length,
        1,
        'one warning',
      );
    } finally {
      await alone.close();
      unreachable.disconnect();
    }
  });
});

describe('upstream answers', () => {
  test('when the upstream answers more than 4 MiB, then 502 UPSTREAM_FAILED rather than buffering it', async () => {
    const original = gateway.upstreams.point.answer;
    gateway.upstreams.point.answer = () => ({
      status: 200,
      body: 'x'.repeat(4 * 1_048_576 + 1),
      contentType: 'application/json',
    });
    try {
      const response = await call('GET', '/api/v1/points', bearer());
      assert.equal(response.statusCode, 502);
      assert.equal(response.json().code, 'UPSTREAM_FAILED');
      gateway.upstreams.point.answer = () => ({
        status: 200,
        body: 'y'.repeat(4 * 1_048_576),
        contentType: 'application/json',
      });
      const atLimit = await call('GET', '/api/v1/points', bearer());
      assert.equal(atLimit.statusCode, 200);
      assert.equal(atLimit.rawPayload.length, 4 * 1_048_576);
    } finally {
      gateway.upstreams.point.answer = original;
    }
  });

  test('when the upstream answers with several headers of one name, then each reaches the client', async () => {
    const original = gateway.upstreams['channel-user'].answer;
    gateway.upstreams['channel-user'].answer = () => ({
      status: 201,
      body: '{}',
      contentType: 'application/json',
      headers: { 'set-cookie': ['a=1', 'b=2'], location: '/api/v1/accounts/1' },
    });
    try {
      const response = await call(
        'POST',
        '/api/v1/accounts',
        { ...bearer(), 'content-type': 'application/json' },
        '{}',
      );
      assert.equal(response.statusCode, 201);
      assert.deepEqual(response.headers['set-cookie'], ['a=1', 'b=2']);
      assert.equal(response.headers.location, '/api/v1/accounts/1');
      assert.equal(
        response.headers['x-request-id'],
        gateway.upstreams['channel-user'].seen.at(-1)?.headers['x-request-id'],
      );
    } finally {
      gateway.upstreams['channel-user'].answer = original;
    }
  });
});

describe('authentication', () => {
  test('when a token is valid, then x-user-uuid is its subject (a client-sent one is replaced) and x-request-id travels', async () => {
    const response = await call('GET', '/api/v1/me', {
      ...bearer(),
      'x-user-uuid': '01890a5d-ac96-774b-bcce-b302099a8057',
      'x-request-id': 'client-trace-1',
    });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['x-request-id'], 'client-trace-1');
    const seen = gateway.upstreams['channel-user'].seen.at(-1)!;
    assert.equal(seen.headers['x-user-uuid'], userUuid);
    assert.equal(seen.headers['x-request-id'], 'client-trace-1');
  });

  test('when signup, login, refresh, JWKS or admin paths are called without a token, then they are forwarded without x-user-uuid', async () => {
    for (const url of [
      '/api/v1/auth/signup',
      '/api/v1/auth/login',
      '/api/v1/auth/refresh',
      '/api/v1/admin/coupon-campaigns',
    ]) {
      const response = await call(
        'POST',
        url,
        { 'content-type': 'application/json', 'x-user-uuid': userUuid },
        '{}',
      );
      assert.equal(response.statusCode, 200, url);
    }
    const jwks = await call('GET', '/.well-known/jwks.json');
    assert.equal(jwks.statusCode, 200);
    const seen = [...gateway.upstreams['channel-user'].seen, ...gateway.upstreams.coupon.seen];
    assert.ok(seen.every((request) => request.headers['x-user-uuid'] === undefined));
    // Admin paths keep their bearer for the coupon service to check.
    await call('POST', '/api/v1/admin/coupon-campaigns', { authorization: 'Bearer admin-secret' }, '{}');
    assert.equal(gateway.upstreams.coupon.seen.at(-1)?.headers.authorization, 'Bearer admin-secret');
  });

  test('when the token is missing, expired, for another audience or issuer, tampered or unsigned, then 401 UNAUTHENTICATED and nothing is forwarded', async () => {
    const key = gateway.keys[0]!;
    const [header, payload] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ sub: randomUserUuid(), iss: 'x' })).toString('base64url');
    const stranger = newSigningKey('k1');
    const bad = [
      undefined,
      'Bearer',
      'Bearer not.a.jwt',
      `Bearer ${await signToken(key, userUuid, { expiresInSeconds: -60 })}`,
      `Bearer ${await signToken(key, userUuid, { audience: 'someone-else' })}`,
      `Bearer ${await signToken(key, userUuid, { issuer: 'https://evil.example' })}`,
      `Bearer ${header}.${forged}.${token.split('.')[2]}`,
      `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`,
      `Bearer ${await signToken(stranger, userUuid)}`,
      `Bearer ${await signToken(key, 'not-a-uuid')}`,
    ];
    for (const authorization of bad) {
      const response = await call(
        'GET',
        '/api/v1/accounts',
        authorization === undefined ? {} : { authorization },
      );
      assert.equal(response.statusCode, 401, authorization);
      assert.equal(response.json().code, 'UNAUTHENTICATED');
    }
    assert.equal(
      gateway.upstreams['channel-user'].seen.filter((seen) => seen.url !== '/.well-known/jwks.json').length,
      0,
    );
  });

  test('when channel-user rotates to a new key, then a token with the new kid verifies after one JWKS refetch', async () => {
    const next = newSigningKey('k2');
    gateway.keys.push(next);
    const response = await call('GET', '/api/v1/me', {
      authorization: `Bearer ${await signToken(next, userUuid)}`,
    });
    assert.equal(response.statusCode, 200);
  });
});

describe('rate limits', () => {
  test('when a user exceeds the per-user limit, then 429 RATE_LIMITED with Retry-After; another user is unaffected', async () => {
    const limited = await startGateway({ userMax: 3 });
    try {
      const heavy = await signToken(limited.keys[0]!, randomUserUuid());
      const light = await signToken(limited.keys[0]!, randomUserUuid());
      // Stay inside one 1 s window so the count is not reset midway.
      while (Date.now() % 1_000 > 700) await new Promise((resolve) => setTimeout(resolve, 20));
      const statuses: number[] = [];
      for (let index = 0; index < 5; index += 1) {
        statuses.push(
          (
            await limited.app.inject({
              method: 'GET',
              url: '/api/v1/me',
              headers: { authorization: `Bearer ${heavy}` },
            })
          ).statusCode,
        );
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      const refused = await limited.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { authorization: `Bearer ${heavy}` },
      });
      assert.equal(refused.json().code, 'RATE_LIMITED');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      const other = await limited.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { authorization: `Bearer ${light}` },
      });
      assert.equal(other.statusCode, 200);
    } finally {
      await limited.close();
    }
  });

  test('when one IP exceeds the per-IP limit, then even anonymous and bad-token requests get 429', async () => {
    const limited = await startGateway({ ipMax: 2 });
    try {
      while (Date.now() % 1_000 > 700) await new Promise((resolve) => setTimeout(resolve, 20));
      const statuses: number[] = [];
      for (let index = 0; index < 4; index += 1) {
        statuses.push(
          (
            await limited.app.inject({
              method: 'GET',
              url: '/api/v1/me',
              headers: { authorization: 'Bearer bad' },
            })
          ).statusCode,
        );
      }
      assert.deepEqual(statuses.slice(-2), [429, 429]);
    } finally {
      await limited.close();
    }
  });

  test('when one IP signs up or logs in past its per-minute limit, then 429 with Retry-After at the gateway and nothing more is forwarded', async () => {
    const limited = await startGateway({ signupMax: 2, loginMax: 3 });
    try {
      const post = (url: string) =>
        limited.app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: '{}',
        });
      const signups = [];
      for (const url of ['/api/v1/auth/signup', '/api/v1/auth/sign%75p', '/api/v1/auth/signup'])
        signups.push(await post(url));
      const logins = [];
      // Written as the routers read them (percent-escapes decoded), they are logins too:
      // anonymous, and counted as logins (a review found them skipping both).
      for (const url of [
        '/api/v1/auth/login',
        '/api/v1/auth/logi%6e',
        '/api/v1/auth/%6cogin',
        '/api/v1/auth/login',
      ])
        logins.push(await post(url));
      assert.deepEqual(
        signups.map((response) => response.statusCode),
        [200, 200, 429],
      );
      assert.deepEqual(
        logins.map((response) => response.statusCode),
        [200, 200, 200, 429],
      );
      assert.equal(signups[2]!.json().code, 'RATE_LIMITED');
      assert.ok(Number(signups[2]!.headers['retry-after']) >= 1);
      assert.equal(
        limited.upstreams['channel-user'].seen.length,
        5,
        'the refused ones never reached channel-user',
      );
      // Other routes are not counted against these limits.
      assert.equal(
        (await limited.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode,
        200,
      );
    } finally {
      await limited.close();
    }
  });

  test('when one IP floods new tokens past its limit, then the refused ones cost no signature check', async () => {
    let verifies = 0;
    const limited = await startGateway({
      ipMax: 3,
      verifier: {
        async verify() {
          verifies += 1;
          throw new Error('not a token');
        },
      },
    });
    try {
      while (Date.now() % 1_000 > 700) await new Promise((resolve) => setTimeout(resolve, 20));
      const statuses = [];
      for (let index = 0; index < 10; index += 1) {
        const response = await limited.app.inject({
          method: 'GET',
          url: '/api/v1/me',
          headers: { authorization: `Bearer forged${index}` },
        });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses.slice(3), Array(7).fill(429));
      assert.equal(verifies, 3, 'only the admitted requests were verified');
    } finally {
      await limited.close();
    }
  });

  test('when GET /health is asked past its per-minute limit, then 429', async () => {
    const limited = await startGateway({ healthMax: 2 });
    try {
      const statuses = [];
      for (let index = 0; index < 3; index += 1) {
        statuses.push((await limited.app.inject({ method: 'GET', url: '/health' })).statusCode);
      }
      assert.equal(statuses[2], 429);
    } finally {
      await limited.close();
    }
  });

  test('when no proxy is trusted, then X-Forwarded-For is ignored; with one hop trusted, the forwarded client is counted and gets HSTS over https', async () => {
    const direct = await startGateway({ ipMax: 1 });
    const proxied = await startGateway({ ipMax: 1, trustedProxyHops: 1 });
    try {
      while (Date.now() % 1_000 > 700) await new Promise((resolve) => setTimeout(resolve, 20));
      const jwks = (app: TestGateway['app'], client: string, proto = 'http') =>
        app.inject({
          method: 'GET',
          url: '/.well-known/jwks.json',
          headers: { 'x-forwarded-for': client, 'x-forwarded-proto': proto },
        });
      // Not trusted: both requests are the socket's address, one client: the second is refused.
      assert.deepEqual(
        [(await jwks(direct.app, '192.0.2.1')).statusCode, (await jwks(direct.app, '192.0.2.2')).statusCode],
        [200, 429],
      );
      // Trusted: two clients, each under its own limit; a third request from the first is refused.
      const first = await jwks(proxied.app, '192.0.2.1', 'https');
      assert.equal(first.statusCode, 200);
      assert.equal((await jwks(proxied.app, '192.0.2.2')).statusCode, 200);
      assert.equal((await jwks(proxied.app, '192.0.2.1')).statusCode, 429);
      assert.match(String(first.headers['strict-transport-security']), /max-age=31536000/);
      assert.equal(first.headers['x-content-type-options'], 'nosniff');
      assert.equal(
        (await jwks(direct.app, '192.0.2.3', 'https')).headers['strict-transport-security'],
        undefined,
      );
    } finally {
      await direct.close();
      await proxied.close();
    }
  });

  test('when a client keeps changing its IPv6 address inside one /64, then it is still one client for the limits', async () => {
    const limited = await startGateway({ ipMax: 2, trustedProxyHops: 1 });
    try {
      while (Date.now() % 1_000 > 700) await new Promise((resolve) => setTimeout(resolve, 20));
      const statuses = [];
      for (const host of ['1', 'a', 'ffff']) {
        const response = await limited.app.inject({
          method: 'GET',
          url: '/.well-known/jwks.json',
          headers: { 'x-forwarded-for': `2001:db8:7:7::${host}` },
        });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('operational routes', () => {
  test('when /metrics and /health/ready are asked on the public port, then 404; on the instance ops port they answer', async () => {
    const freePort = async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    };
    const [publicPort, opsPort] = [await freePort(), await freePort()];
    const listening = await startGateway({ publicPort });
    const handle = await runServer(listening.app, {
      host: '127.0.0.1',
      port: publicPort,
      extraPort: opsPort,
      signals: [],
      exit: () => {},
    });
    try {
      for (const path of ['/metrics', '/health/ready', '/health/live']) {
        assert.equal((await fetch(`http://127.0.0.1:${publicPort}${path}`)).status, 404, `public ${path}`);
        assert.equal((await fetch(`http://127.0.0.1:${opsPort}${path}`)).status, 200, `ops ${path}`);
      }
      // Spelt so that the router still matches them (sent as written: fetch would drop the fragment).
      const rawStatus = (path: string) =>
        new Promise<number>((resolve, reject) => {
          const request = httpRequest({ host: '127.0.0.1', port: publicPort, path }, (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          });
          request.on('error', reject);
          request.end();
        });
      for (const path of [
        '/%6detrics',
        '/metrics#x',
        '/health/%72eady',
        '/health/ready#x',
        '/health/live?x=1',
      ]) {
        assert.equal(await rawStatus(path), 404, `public ${path}`);
      }
      assert.equal(
        (await fetch(`http://127.0.0.1:${publicPort}/health`)).status,
        200,
        'GET /health stays public',
      );
    } finally {
      await handle.shutdown();
      await listening.close().catch(() => {});
    }
  });
});
