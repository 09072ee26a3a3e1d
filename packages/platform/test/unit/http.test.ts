import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { AppError } from '../../src/errors.ts';
import { createHttpApp, type HttpAppOptions, problemType } from '../../src/http.ts';
import { isUuidv7 } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';

type TestOptions = Partial<Omit<HttpAppOptions, 'logger' | 'metrics' | 'name'>>;

/** An app with a few routes that exercise each error class, and the lines it logged. */
function buildTestApp(options: TestOptions = {}) {
  const lines: string[] = [];
  const logger = createLogger({
    name: 'test',
    level: 'debug',
    destination: { write: (line) => void lines.push(line) },
  });
  const app = createHttpApp({ name: 'test', logger, metrics: createMetrics('test'), ...options });
  app.post(
    '/transfers',
    {
      schema: {
        body: Type.Object({ amount: Type.Integer({ minimum: 1 }), memo: Type.Optional(Type.String()) }),
      },
    },
    async (request) => ({ amount: request.body.amount }),
  );
  app.get(
    '/items',
    {
      schema: {
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }),
      },
    },
    async (request) => ({ limit: request.query.limit }),
  );
  app.get('/items/:itemId', async () => {
    throw new AppError('ALREADY_ISSUED', 409, 'one coupon per user', { couponId: 'c-42' });
  });
  app.get('/core-down', async () => {
    throw new AppError('CORE_UNAVAILABLE', 503, 'nothing was created; safe to retry');
  });
  app.get('/limited', async () => {
    throw Object.assign(new Error('rate limit for 10.0.0.9 exceeded'), { statusCode: 429 });
  });
  app.get('/boom', async () => {
    throw new Error('connection to 10.0.0.7:5432 refused for user nuri_admin');
  });
  return { app, lines, logs: () => lines.map((line) => JSON.parse(line)) };
}

/** POSTs a JSON text to the test app's /transfers route, as sent. */
function postJson(app: ReturnType<typeof buildTestApp>['app'], payload: string) {
  return app.inject({
    method: 'POST',
    url: '/transfers',
    headers: { 'content-type': 'application/json' },
    payload,
  });
}

function assertProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown },
  status: number,
  code: string,
): Record<string, unknown> {
  assert.equal(response.statusCode, status);
  assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
  const body = response.json() as Record<string, unknown>;
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(body.type, problemType(code));
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  assert.equal(body.traceId, response.headers['x-request-id']);
  return body;
}

describe('createHttpApp: request ids', () => {
  it('when the client sends a well-formed x-request-id, then it is echoed and used as the traceId', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'GET',
      url: '/nowhere',
      headers: { 'x-request-id': 'abc.DEF-123_x' },
    });
    assert.equal(response.headers['x-request-id'], 'abc.DEF-123_x');
    assert.equal(response.json().traceId, 'abc.DEF-123_x');
  });

  it('when the client sends no request id, then a UUIDv7 is generated and echoed', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ method: 'GET', url: '/health/live' });
    assert.ok(isUuidv7(String(response.headers['x-request-id'])));
  });

  it('when the client request id is too long or has other characters, then it is replaced', async () => {
    const { app } = buildTestApp();
    for (const bad of ['a'.repeat(65), 'has space', 'semi;colon', '<script>']) {
      const response = await app.inject({
        method: 'GET',
        url: '/health/live',
        headers: { 'x-request-id': bad },
      });
      assert.ok(isUuidv7(String(response.headers['x-request-id'])), `kept ${bad}`);
    }
  });

  it('when a request carries secrets in its body and query, then the request logs hold neither', async () => {
    const { app, lines } = buildTestApp();
    await app.inject({
      method: 'POST',
      url: '/transfers?access_token=qs-secret-123',
      headers: { authorization: 'Bearer hdr-secret-456' },
      payload: { amount: 1, memo: 'body-secret-789 900101-1234567' },
    });
    const text = lines.join('');
    assert.match(text, /request completed/);
    for (const secret of ['qs-secret-123', 'hdr-secret-456', 'body-secret-789', '1234567']) {
      assert.ok(!text.includes(secret), `logs leaked ${secret}`);
    }
  });

  it('when a request is answered, then one access line holds the request and its answer', async () => {
    const { app, logs } = buildTestApp();
    await app.inject({ method: 'GET', url: '/items?limit=3', headers: { 'x-request-id': 'access-1' } });
    const mine = logs().filter((line) => line.reqId === 'access-1');
    assert.equal(mine.length, 1, JSON.stringify(mine));
    const [line] = mine;
    assert.equal(line.msg, 'request completed');
    assert.equal(line.level, 30);
    assert.deepEqual(
      { method: line.req.method, url: line.req.url, status: line.res.statusCode },
      { method: 'GET', url: '/items?limit=3', status: 200 },
    );
    assert.equal(typeof line.responseTime, 'number');
    assert.ok(!logs().some((entry) => entry.msg === 'incoming request'));
  });

  it('when a request is answered with a problem, then its code is on the access line; a 5xx also gets a warning of its own', async () => {
    const { app, logs } = buildTestApp();
    await app.inject({ method: 'GET', url: '/items/7', headers: { 'x-request-id': 'taken-1' } });
    await app.inject({ method: 'GET', url: '/core-down', headers: { 'x-request-id': 'down-1' } });
    const taken = logs().filter((line) => line.reqId === 'taken-1');
    assert.deepEqual(
      taken.map((line) => [line.msg, line.res?.statusCode, line.code]),
      [['request completed', 409, 'ALREADY_ISSUED']],
    );
    const down = logs().filter((line) => line.reqId === 'down-1');
    assert.deepEqual(
      down.map((line) => [line.msg, line.level, line.code]),
      [
        ['request failed', 40, 'CORE_UNAVAILABLE'],
        ['request completed', 30, 'CORE_UNAVAILABLE'],
      ],
    );
  });

  it('when a client goes away before its request is answered, then the request still gets its line', async () => {
    const { app, logs } = buildTestApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as { port: number };
      // Half a body, then gone: the route never runs and no answer is sent.
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            'POST /transfers HTTP/1.1\r\nhost: x\r\nx-request-id: gone-1\r\n' +
              'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"amount":',
          );
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 100);
        });
        socket.on('error', reject);
      });
      const deadline = Date.now() + 2_000;
      while (!logs().some((line) => line.reqId === 'gone-1') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const mine = logs().filter((line) => line.reqId === 'gone-1');
      assert.deepEqual(
        mine.map((line) => [line.msg, line.req?.method, line.req?.url]),
        [['request aborted', 'POST', '/transfers']],
      );
    } finally {
      await app.close();
    }
  });

  it('when a request is logged, then the log line carries the request id as reqId', async () => {
    const { app, logs } = buildTestApp();
    await app.inject({ method: 'GET', url: '/items/1', headers: { 'x-request-id': 'trace-1' } });
    assert.ok(logs().some((line) => line.reqId === 'trace-1' && line.msg === 'request completed'));
  });

  it('when a balancer or the supervisor probes health, then no log line is written for it', async () => {
    const { app, logs } = buildTestApp();
    await app.inject({ method: 'GET', url: '/health/ready', headers: { 'x-request-id': 'probe-1' } });
    await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'probe-2' } });
    assert.ok(!logs().some((line) => line.reqId === 'probe-1' || line.reqId === 'probe-2'));
  });
});

describe('createHttpApp: problem+json errors', () => {
  it('when a route throws an AppError, then its status, code, detail and extra fields are answered', async () => {
    const { app } = buildTestApp();
    const body = assertProblem(await app.inject({ method: 'GET', url: '/items/1' }), 409, 'ALREADY_ISSUED');
    assert.equal(body.title, 'Conflict');
    assert.equal(body.detail, 'one coupon per user');
    assert.equal(body.couponId, 'c-42');
  });

  it('when the body breaks the schema, then 400 VALIDATION_FAILED names the field', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/transfers', payload: { amount: '100' } });
    const body = assertProblem(response, 400, 'VALIDATION_FAILED');
    assert.match(String(body.detail), /^body\/amount /);
  });

  it('when a required body field is missing, then the detail says which one', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/transfers', payload: { memo: 'x' } });
    const body = assertProblem(response, 400, 'VALIDATION_FAILED');
    assert.match(String(body.detail), /amount/);
  });

  it('when the body is valid, then unknown fields are ignored and the route answers', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/transfers',
      payload: { amount: 5, extra: true },
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { amount: 5 });
  });

  it('when a query parameter is a strict integer string, then it is converted; a fraction is refused', async () => {
    const { app } = buildTestApp();
    assert.deepEqual((await app.inject({ method: 'GET', url: '/items?limit=50' })).json(), { limit: 50 });
    assert.deepEqual((await app.inject({ method: 'GET', url: '/items' })).json(), { limit: 20 });
    const body = assertProblem(
      await app.inject({ method: 'GET', url: '/items?limit=1.5' }),
      400,
      'VALIDATION_FAILED',
    );
    assert.match(String(body.detail), /^querystring\/limit /);
  });

  it('when a query schema declares no default, then its integers are still converted and its strings left as sent', async () => {
    const { app } = buildTestApp();
    app.get(
      '/pages',
      {
        schema: {
          querystring: Type.Object({ n: Type.Optional(Type.Integer()), tag: Type.Optional(Type.String()) }),
        },
      },
      async (request) => request.query,
    );
    assert.deepEqual((await app.inject({ method: 'GET', url: '/pages?n=7&tag=7' })).json(), {
      n: 7,
      tag: '7',
    });
    assert.deepEqual((await app.inject({ method: 'GET', url: '/pages' })).json(), {});
    assertProblem(await app.inject({ method: 'GET', url: '/pages?n=seven' }), 400, 'VALIDATION_FAILED');
  });

  it('when an error knows when to come back (retryAfterSeconds), then the answer carries Retry-After; any other 503 says 1; other errors none', async () => {
    const { app } = buildTestApp();
    app.get('/slow-down', async () => {
      throw new AppError('RATE_LIMITED', 429, 'slow down', { retryAfterSeconds: 42 });
    });
    app.get('/busy', async () => {
      throw new AppError('SERVICE_UNAVAILABLE', 503, 'busy');
    });
    app.get('/broken', async () => {
      throw new Error('a bug');
    });
    const busy = await app.inject({ method: 'GET', url: '/busy' });
    assert.equal(busy.statusCode, 503);
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal(busy.json().retryAfterSeconds, undefined, 'the body stays the problem');
    assert.equal((await app.inject({ method: 'GET', url: '/broken' })).headers['retry-after'], undefined);
    const limited = assertProblem(
      await app.inject({ method: 'GET', url: '/slow-down' }),
      429,
      'RATE_LIMITED',
    );
    assert.equal(limited.retryAfterSeconds, 42);
    assert.equal((await app.inject({ method: 'GET', url: '/slow-down' })).headers['retry-after'], '42');
    assert.equal((await app.inject({ method: 'GET', url: '/items/x' })).headers['retry-after'], undefined);
  });

  it('when the JSON is malformed, then 400 VALIDATION_FAILED without parser internals', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/transfers',
      headers: { 'content-type': 'application/json' },
      payload: '{"amount": 1,',
    });
    const body = assertProblem(response, 400, 'VALIDATION_FAILED');
    assert.equal(body.detail, 'The body is not valid JSON');
  });

  it('when a number is written as a float (1.0, 1e2, 0.5) or the body is empty, then 400 VALIDATION_FAILED; a plain integer passes', async () => {
    const { app } = buildTestApp();
    const send = (payload: string) => postJson(app, payload);
    for (const payload of [
      '{"amount": 1.0}',
      '{"amount": 1e2}',
      '{"amount": 0.5}',
      '{"amount": 5, "memo": [2.5]}',
    ]) {
      const body = assertProblem(await send(payload), 400, 'VALIDATION_FAILED');
      assert.match(String(body.detail), /integers/, payload);
    }
    assertProblem(await send(''), 400, 'VALIDATION_FAILED');
    assertProblem(await send('{"__proto__": {"admin": true}, "amount": 5}'), 400, 'VALIDATION_FAILED');
    const fine = await send('{"amount": 100}');
    assert.equal(fine.statusCode, 200);
    assert.deepEqual(fine.json(), { amount: 100 });
  });

  it('when a string or a key holds a lone surrogate or NUL, then 400 VALIDATION_FAILED (stored as U+FFFD or not at all); a pair and Hangul pass', async () => {
    const { app } = buildTestApp();
    const send = (payload: string) => postJson(app, payload);
    for (const payload of [
      '{"amount": 5, "memo": "rent\\ud800"}',
      '{"amount": 5, "memo": "\\udc00 first"}',
      '{"amount": 5, "memo": ["ok", "\\ud83d"]}',
      '{"amount": 5, "\\ud800": "x"}',
      '{"amount": 5, "memo": "a\\u0000b"}',
    ]) {
      const body = assertProblem(await send(payload), 400, 'VALIDATION_FAILED');
      assert.match(String(body.detail), /surrogate/, payload);
    }
    const fine = await send('{"amount": 5, "memo": "점심값 \\ud83d\\ude00"}');
    assert.equal(fine.statusCode, 200);
    assert.deepEqual(fine.json(), { amount: 5 });
  });

  it('when the router refuses a path (a bad escape, a segment too long for any id), then problem+json without the path: 400 VALIDATION_FAILED, 404 NOT_FOUND', async () => {
    const { app } = buildTestApp({ paramLengthMax: 40 });
    const badEscape = await app.inject({ method: 'GET', url: '/items/%zz' });
    const bad = assertProblem(badEscape, 400, 'VALIDATION_FAILED');
    assert.equal(badEscape.headers['x-content-type-options'], 'nosniff');
    assert.ok(isUuidv7(String(bad.traceId)));
    assert.doesNotMatch(JSON.stringify(bad), /%zz/);
    const long = assertProblem(
      await app.inject({ method: 'GET', url: `/items/${'9'.repeat(41)}` }),
      404,
      'NOT_FOUND',
    );
    assert.doesNotMatch(JSON.stringify(long), /9{41}/);
    // At the limit the route still answers.
    assertProblem(
      await app.inject({ method: 'GET', url: `/items/${'9'.repeat(40)}` }),
      409,
      'ALREADY_ISSUED',
    );
  });

  it('when the body is over 64 KiB, then 413 PAYLOAD_TOO_LARGE', async () => {
    const { app } = buildTestApp();
    const payload = JSON.stringify({ amount: 1, memo: 'x'.repeat(70 * 1024) });
    const response = await app.inject({
      method: 'POST',
      url: '/transfers',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    const body = assertProblem(response, 413, 'PAYLOAD_TOO_LARGE');
    assert.equal(body.title, 'Payload Too Large');
  });

  it('when the body is not JSON, then 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/transfers',
      headers: { 'content-type': 'application/xml' },
      payload: '<amount>1</amount>',
    });
    assertProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('when no route matches, then 404 NOT_FOUND in the same shape', async () => {
    const { app } = buildTestApp();
    const body = assertProblem(await app.inject({ method: 'GET', url: '/nowhere?x=1' }), 404, 'NOT_FOUND');
    assert.equal(body.detail, 'No route for GET /nowhere');
  });

  it('when a route throws an expected 5xx AppError, then it is answered as such and not logged as a bug', async () => {
    const { app, logs } = buildTestApp();
    const body = assertProblem(
      await app.inject({ method: 'GET', url: '/core-down' }),
      503,
      'CORE_UNAVAILABLE',
    );
    assert.equal(body.detail, 'nothing was created; safe to retry');
    assert.ok(!logs().some((line) => line.level >= 50));
    assert.ok(logs().some((line) => line.level === 40 && line.code === 'CORE_UNAVAILABLE'));
  });

  it('when another 4xx error carries a status, then the status passes but not its message', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ method: 'GET', url: '/limited' });
    const body = assertProblem(response, 429, 'TOO_MANY_REQUESTS');
    assert.equal(body.detail, 'Too Many Requests');
    assert.ok(!response.body.includes('10.0.0.9'));
  });

  it('when a route fails unexpectedly, then 500 INTERNAL_ERROR hides the cause and the log keeps it', async () => {
    const { app, logs } = buildTestApp();
    const response = await app.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'boom-1' } });
    const body = assertProblem(response, 500, 'INTERNAL_ERROR');
    assert.ok(!response.body.includes('10.0.0.7'));
    assert.ok(!response.body.includes('nuri_admin'));
    assert.ok(!response.body.includes('at '), 'no stack frames');
    assert.equal(body.title, 'Internal Server Error');
    const logged = logs().find((line) => line.level === 50);
    assert.ok(logged, 'an error-level line');
    assert.equal(logged.reqId, 'boom-1');
    assert.equal(logged.route, '/boom');
    assert.match(logged.err.message, /refused for user nuri_admin/);
    assert.match(logged.err.stack, /http\.test\.ts/);
  });
});

describe('createHttpApp: health and metrics', () => {
  it('when asked if alive, then 200 ok', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ method: 'GET', url: '/health/live' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ok' });
  });

  it('when every readiness check passes, then 200 with each check ok', async () => {
    const { app } = buildTestApp({ readinessChecks: { database: async () => {}, kafka: async () => {} } });
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(response.statusCode, 200);
    const { instance, ...readiness } = response.json();
    assert.deepEqual(readiness, { status: 'ok', checks: { database: 'ok', kafka: 'ok' } });
    assert.equal(instance.pid, process.pid, 'the process that answered is named');
    assert.ok(!Number.isNaN(Date.parse(instance.startedAt)));
  });

  it('when a check fails or hangs past its timeout, then 503 names it without internals and logs why', async () => {
    const { app, logs } = buildTestApp({
      readinessCheckTimeoutMs: 50,
      readinessChecks: {
        database: async () => {},
        redis: async () => {
          throw new Error('ECONNREFUSED 127.0.0.1:6379');
        },
        kafka: () => new Promise<void>(() => {}),
      },
    });
    const startedMs = Date.now();
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.ok(Date.now() - startedMs < 1_000, 'the hanging check was cut off');
    assert.equal(response.statusCode, 503);
    const { instance: _instance, ...readiness } = response.json();
    assert.deepEqual(readiness, {
      status: 'unavailable',
      checks: { database: 'ok', redis: 'fail', kafka: 'fail' },
    });
    assert.ok(!response.body.includes('ECONNREFUSED'));
    const warnings = logs().filter((line) => line.msg === 'readiness check failed');
    assert.deepEqual(warnings.map((line) => line.check).sort(), ['kafka', 'redis']);
    assert.ok(warnings.some((line) => /ECONNREFUSED/.test(line.err.message)));
  });

  it('when a reported check fails, then it shows in /health/ready but the instance stays ready', async () => {
    const { app } = buildTestApp({
      readinessChecks: { database: async () => {} },
      reportedChecks: {
        kafka: async () => {
          throw new Error('broker away');
        },
      },
    });
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(response.statusCode, 200);
    const { instance: _instance, ...readiness } = response.json();
    assert.deepEqual(readiness, { status: 'ok', checks: { database: 'ok', kafka: 'fail' } });
  });

  it('when probes come often, then the checks run once per cache period and concurrent probes share one run', async () => {
    let runs = 0;
    const { app } = buildTestApp({
      readinessCacheMs: 200,
      readinessChecks: {
        database: async () => {
          runs += 1;
          await new Promise((resolve) => setTimeout(resolve, 20));
        },
      },
    });
    await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: '/health/ready' })));
    await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(runs, 1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(runs, 2);
  });

  it('when metrics are scraped after traffic, then prom-client text holds the route template', async () => {
    const { app } = buildTestApp();
    await app.inject({ method: 'GET', url: '/items/7' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    assert.match(response.body, /nuri_process_cpu_user_seconds_total\{service="test"\}/);
    const sample = response.body
      .split('\n')
      .find(
        (line) =>
          line.startsWith('nuri_http_request_duration_seconds_count{') &&
          line.includes('route="/items/:itemId"'),
      );
    assert.ok(sample, 'a histogram sample for the route template');
    assert.match(sample, /status="409"/);
    assert.match(sample, /method="GET"/);
  });
});
