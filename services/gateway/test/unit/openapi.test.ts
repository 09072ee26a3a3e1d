import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@nuri/platform/logger';
import type { OpenApiDocument, OpenApiOperation } from '@nuri/platform/openapi';
import type { Upstream, UpstreamRequest } from '@nuri/platform/upstream';
import { createDocumentCatalog } from '../../src/openapi/catalog.ts';
import {
  forwardedTo,
  isForwardingRoute,
  mergeDocuments,
  type ServiceSource,
} from '../../src/openapi/document.ts';
import type { UpstreamName } from '../../src/routing.ts';

const silentLogger = createLogger({ name: 'gateway-test', level: 'silent' });
const problem = { $ref: '#/components/schemas/Problem' };
const problemSchema = { type: 'object', properties: { code: { type: 'string' } } };

function operation(statuses: number[] = [200], extra: Partial<OpenApiOperation> = {}): OpenApiOperation {
  const responses: OpenApiOperation['responses'] = {};
  for (const status of statuses) {
    responses[String(status)] =
      status >= 400
        ? { description: 'error', content: { 'application/problem+json': { schema: problem } } }
        : { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } };
  }
  return { responses, ...extra };
}

function documentOf(paths: OpenApiDocument['paths'], schemas: Record<string, unknown> = {}): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: { title: 't', version: '0' },
    paths,
    components: { schemas: { Problem: problemSchema, ...schemas } },
  };
}

const gatewayDocument = documentOf({
  '/health': { get: operation([200, 503]) },
  '/api/v1/admin/overview': { get: operation([200, 401, 403]) },
});

function source(service: UpstreamName, document: OpenApiDocument | undefined): ServiceSource {
  return { service, document, state: document === undefined ? 'missing' : 'current' };
}

describe('which service a described path belongs to', () => {
  test('when a path is forwarded, then its owner is the one routing.ts names, an exact route before a wildcard', () => {
    assert.equal(forwardedTo('/api/v1/accounts'), 'channel-user');
    assert.equal(forwardedTo('/api/v1/accounts/{accountNo}/deposits'), 'channel-user');
    assert.equal(forwardedTo('/.well-known/jwks.json'), 'channel-user');
    assert.equal(forwardedTo('/api/v1/points'), 'point');
    assert.equal(forwardedTo('/api/v1/payments/{paymentId}'), 'point');
    assert.equal(forwardedTo('/api/v1/coupon-campaigns/{campaignId}/issue'), 'coupon');
    assert.equal(forwardedTo('/api/v1/admin/coupon-campaigns'), 'coupon');
  });

  test('when a path is internal, the gateway’s own or unknown, then no service owns it', () => {
    for (const path of [
      '/internal/v1/account-links/{accountNo}',
      '/internal/v1/deposit-totals',
      '/openapi.json',
      '/health',
      '/metrics',
      '/api/v1/nope',
      '/api/v2/accounts',
    ]) {
      assert.equal(forwardedTo(path), undefined, path);
    }
  });

  test('when a gateway route forwards or is a wildcard, then it is not one of its own operations', () => {
    assert.equal(isForwardingRoute('/api/v1/accounts/*'), true);
    assert.equal(isForwardingRoute('/api/v1/admin/coupon-campaigns'), true);
    assert.equal(isForwardingRoute('/api/v1/me'), true);
    assert.equal(isForwardingRoute('/assets/*'), true);
    assert.equal(isForwardingRoute('/health'), false);
    assert.equal(isForwardingRoute('/api/v1/admin/overview'), false);
  });
});

describe('merging the documents', () => {
  const channelUser = documentOf({
    '/api/v1/auth/login': { post: operation([200, 400, 401]) },
    '/api/v1/me': { get: operation([200, 401]) },
    '/api/v1/accounts': { post: operation([201, 400, 401, 422]) },
    '/internal/v1/account-links/{accountNo}': { get: operation() },
    // Not forwarded to channel-user: point owns it.
    '/api/v1/points': { get: operation() },
  });
  const coupon = documentOf({
    '/api/v1/admin/coupon-campaigns': { post: operation([201, 400, 401, 403]) },
    '/api/v1/admin/coupon-campaigns/{campaignId}': { get: operation([200]), post: operation([201]) },
    // Not forwarded to coupon: the gateway's own admin route.
    '/api/v1/admin/overview': { post: operation([201]) },
    '/api/v1/coupons': { get: operation([200, 401]) },
  });

  test('when the services answer, then only the forwarded paths are kept, each owned by the service it is forwarded to', () => {
    const { document, rejected } = mergeDocuments(gatewayDocument, [
      source('channel-user', channelUser),
      source('point', documentOf({})),
      source('coupon', coupon),
    ]);
    assert.deepEqual(rejected, []);
    assert.equal(document.openapi, '3.1.0');
    assert.equal(document.info.title, 'Nuri Bank API');
    assert.deepEqual(Object.keys(document.paths).sort(), [
      '/api/v1/accounts',
      '/api/v1/admin/coupon-campaigns',
      '/api/v1/admin/coupon-campaigns/{campaignId}',
      '/api/v1/admin/overview',
      '/api/v1/auth/login',
      '/api/v1/coupons',
      '/api/v1/me',
      '/health',
    ]);
  });

  test('when a route is anonymous, a customer’s or an operator’s, then it carries no scheme, the access token or the admin token', () => {
    const { document } = mergeDocuments(gatewayDocument, [
      source('channel-user', channelUser),
      source('coupon', coupon),
    ]);
    assert.deepEqual(document.paths['/api/v1/auth/login']?.post?.security, []);
    assert.deepEqual(document.paths['/api/v1/me']?.get?.security, [{ accessToken: [] }]);
    assert.deepEqual(document.paths['/api/v1/admin/coupon-campaigns']?.post?.security, [{ adminToken: [] }]);
    assert.deepEqual(document.paths['/api/v1/admin/overview']?.get?.security, [{ adminToken: [] }]);
    assert.deepEqual(document.paths['/health']?.get?.security, []);
    const schemes = document.components?.securitySchemes as Record<string, { scheme: string }>;
    assert.equal(schemes.accessToken?.scheme, 'bearer');
    assert.equal(schemes.adminToken?.scheme, 'bearer');
  });

  test('when a route is forwarded, then the gateway’s own answers are added as problem+json: 401 for a token, 413 for a body, 429, 502, 503, 504', () => {
    const { document } = mergeDocuments(gatewayDocument, [
      source('channel-user', channelUser),
      source('coupon', coupon),
    ]);
    const me = document.paths['/api/v1/me']?.get;
    assert.deepEqual(Object.keys(me?.responses ?? {}).sort(), ['200', '401', '429', '502', '503', '504']);
    assert.deepEqual(me?.responses['429']?.content, { 'application/problem+json': { schema: problem } });
    const login = document.paths['/api/v1/auth/login']?.post;
    assert.deepEqual(Object.keys(login?.responses ?? {}).sort(), [
      '200',
      '400',
      '401',
      '413',
      '429',
      '502',
      '503',
      '504',
    ]);
    // The service's own description of a status is kept.
    assert.equal(login?.responses['401']?.description, 'error');
    // The gateway's own routes are described as they declare themselves.
    assert.deepEqual(Object.keys(document.paths['/health']?.get?.responses ?? {}), ['200', '503']);
  });

  test('when the gateway has a route of its own on a forwarded path, then its operation wins and the others still come from the service', () => {
    const gateway = documentOf({
      ...gatewayDocument.paths,
      '/api/v1/admin/coupon-campaigns/{campaignId}': { get: operation([200, 401, 403]) },
    });
    const { document } = mergeDocuments(gateway, [source('coupon', coupon)]);
    const campaign = document.paths['/api/v1/admin/coupon-campaigns/{campaignId}'];
    assert.deepEqual(Object.keys(campaign?.get?.responses ?? {}), ['200', '401', '403']);
    assert.ok(campaign?.post?.responses['504'] !== undefined, 'POST is forwarded to coupon');
    assert.equal(document.paths['/api/v1/admin/overview']?.post, undefined, 'not forwarded to coupon');
  });

  test('when every service answered, then the sources are all current and nothing says incomplete', () => {
    const { document } = mergeDocuments(gatewayDocument, [
      source('channel-user', channelUser),
      source('point', documentOf({})),
      source('coupon', coupon),
    ]);
    assert.deepEqual(document.info['x-nuri-sources'], {
      'channel-user': 'current',
      point: 'current',
      coupon: 'current',
    });
    assert.doesNotMatch(document.info.description ?? '', /Incomplete/);
  });

  test('when a service is missing or only an earlier copy is at hand, then the info names it and says what is lacking', () => {
    const { document } = mergeDocuments(gatewayDocument, [
      source('channel-user', channelUser),
      source('point', undefined),
      { service: 'coupon', document: coupon, state: 'stale' },
    ]);
    assert.deepEqual(document.info['x-nuri-sources'], {
      'channel-user': 'current',
      point: 'missing',
      coupon: 'stale',
    });
    assert.match(
      document.info.description ?? '',
      /Incomplete.*point are missing.*coupon are from an earlier copy/,
    );
    assert.ok(document.paths['/api/v1/coupons'] !== undefined, 'the earlier copy is used');
  });

  test('when a service’s components contradict another’s, then it is left out and reported, not mixed in', () => {
    const contradicting = documentOf(
      { '/api/v1/points': { get: operation() } },
      { Problem: { type: 'string' } },
    );
    const { document, rejected } = mergeDocuments(gatewayDocument, [
      source('channel-user', channelUser),
      source('point', contradicting),
    ]);
    assert.deepEqual(rejected, ['point']);
    assert.equal(document.paths['/api/v1/points'], undefined);
    assert.deepEqual(document.components?.schemas?.Problem, problemSchema);
    assert.equal((document.info['x-nuri-sources'] as Record<string, string>).point, 'missing');
  });
});

interface FakeService {
  upstream: Upstream;
  calls: UpstreamRequest[];
  /** What the next fetch gets: a document, an HTTP status, or a thrown error. */
  answer: OpenApiDocument | number | Error;
}

function fakeService(name: UpstreamName, document: OpenApiDocument): FakeService {
  const fake: FakeService = { calls: [], answer: document, upstream: undefined as unknown as Upstream };
  fake.upstream = {
    name,
    async request(request) {
      fake.calls.push(request);
      const { answer } = fake;
      if (answer instanceof Error) throw answer;
      if (typeof answer === 'number') return { status: answer, headers: {}, body: Buffer.from('{}') };
      return { status: 200, headers: {}, body: Buffer.from(JSON.stringify(answer)) };
    },
    instances: () => [],
    readyCount: () => 1,
    firstProbe: async () => undefined,
    close: async () => undefined,
  };
  return fake;
}

function catalogOver(fakes: Record<UpstreamName, FakeService>, clock: { nowMs: number }) {
  return createDocumentCatalog({
    gatewayDocument: () => gatewayDocument,
    services: {
      'channel-user': fakes['channel-user'].upstream,
      point: fakes.point.upstream,
      coupon: fakes.coupon.upstream,
    },
    logger: silentLogger,
    freshMs: 60_000,
    retryMs: 5_000,
    now: () => clock.nowMs,
  });
}

function threeServices() {
  return {
    'channel-user': fakeService('channel-user', documentOf({ '/api/v1/me': { get: operation() } })),
    point: fakeService('point', documentOf({ '/api/v1/points': { get: operation() } })),
    coupon: fakeService('coupon', documentOf({ '/api/v1/coupons': { get: operation() } })),
  };
}

const callsOf = (fakes: Record<string, FakeService>) => Object.values(fakes).map((fake) => fake.calls.length);

describe('the catalog of documents', () => {
  test('when the document is asked for often, then each service is fetched once, at GET /openapi.json, and the answer is kept', async () => {
    const fakes = threeServices();
    const clock = { nowMs: 0 };
    const catalog = catalogOver(fakes, clock);
    const answers = await Promise.all([catalog.current(), catalog.current(), catalog.current()]);
    clock.nowMs = 59_000;
    answers.push(await catalog.current());
    assert.deepEqual(callsOf(fakes), [1, 1, 1]);
    assert.equal(fakes.point.calls[0]?.path, '/openapi.json');
    assert.equal(fakes.point.calls[0]?.method, 'GET');
    for (const answer of answers) assert.deepEqual(answer.incomplete, []);
    const document = JSON.parse(answers[0]!.body) as OpenApiDocument;
    assert.ok(document.paths['/api/v1/points'] !== undefined);
    clock.nowMs = 60_000;
    await catalog.current();
    assert.deepEqual(callsOf(fakes), [2, 2, 2], 'fetched again once stale');
  });

  test('when a service is down, then the rest is published, and it is asked again only after the retry time', async () => {
    const fakes = threeServices();
    fakes.point.answer = new Error('connection refused');
    const clock = { nowMs: 0 };
    const catalog = catalogOver(fakes, clock);
    const first = await catalog.current();
    assert.deepEqual(first.incomplete, ['point']);
    const document = JSON.parse(first.body) as OpenApiDocument;
    assert.equal(document.paths['/api/v1/points'], undefined);
    assert.ok(document.paths['/api/v1/me'] !== undefined);
    clock.nowMs = 4_999;
    await catalog.current();
    assert.deepEqual(callsOf(fakes), [1, 1, 1], 'not asked on every request');
    fakes.point.answer = documentOf({ '/api/v1/points': { get: operation() } });
    clock.nowMs = 5_000;
    const second = await catalog.current();
    assert.deepEqual(callsOf(fakes), [1, 2, 1], 'only the missing one is asked again');
    assert.deepEqual(second.incomplete, []);
    assert.ok((JSON.parse(second.body) as OpenApiDocument).paths['/api/v1/points'] !== undefined);
  });

  test('when a service fails after having answered, then its earlier copy is kept and named stale', async () => {
    const fakes = threeServices();
    const clock = { nowMs: 0 };
    const catalog = catalogOver(fakes, clock);
    await catalog.current();
    fakes.coupon.answer = 503;
    clock.nowMs = 60_000;
    const answer = await catalog.current();
    assert.deepEqual(answer.incomplete, ['coupon']);
    const document = JSON.parse(answer.body) as OpenApiDocument;
    assert.ok(document.paths['/api/v1/coupons'] !== undefined);
    assert.equal((document.info['x-nuri-sources'] as Record<string, string>).coupon, 'stale');
  });

  test('when a service answers something that is not an OpenAPI 3.1 document, then it counts as not answering', async () => {
    const fakes = threeServices();
    fakes['channel-user'].answer = { ...documentOf({}), openapi: '3.0.3' };
    const catalog = catalogOver(fakes, { nowMs: 0 });
    assert.deepEqual((await catalog.current()).incomplete, ['channel-user']);
  });
});
