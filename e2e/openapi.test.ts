import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpenApiDocument, OpenApiOperation } from '@nuri/platform/openapi';
import rootPackage from '../package.json' with { type: 'json' };
import { forwardedTo } from '../services/gateway/src/openapi/document.ts';
import { publicRoutes, type UpstreamName } from '../services/gateway/src/routing.ts';
import { launchBrowser } from './console/browser.ts';
import { startTestSystem, type TestSystem } from './harness.ts';
import { BankClient, type Customer, newCustomer } from './workload.ts';

// GET /openapi.json and GET /docs through a real gateway in front of the real
// services: the document describes every route the gateway forwards (and the
// public contract of docs/api.md), each described route answers from its owner,
// a service that is down is named as missing, and the docs page loads its
// assets under a strict Content-Security-Policy.

let system: TestSystem;
let client: BankClient;

before(async () => {
  system = await startTestSystem();
  client = new BankClient(system.gatewayUrl);
});

after(async () => {
  await system?.shutdown();
});

type Security = 'none' | 'accessToken' | 'adminToken';

/** docs/api.md's routes: method, OpenAPI path, the credential it needs, and whether it takes an Idempotency-Key. */
const contract: ReadonlyArray<[string, string, Security, ('idempotent' | undefined)?]> = [
  ['post', '/api/v1/auth/signup', 'none'],
  ['post', '/api/v1/auth/login', 'none'],
  ['post', '/api/v1/auth/refresh', 'none'],
  ['post', '/api/v1/auth/logout', 'accessToken'],
  ['get', '/api/v1/me', 'accessToken'],
  ['post', '/api/v1/accounts', 'accessToken', 'idempotent'],
  ['get', '/api/v1/accounts', 'accessToken'],
  ['get', '/api/v1/accounts/{accountNo}', 'accessToken'],
  ['get', '/api/v1/accounts/{accountNo}/transactions', 'accessToken'],
  ['post', '/api/v1/accounts/{accountNo}/deposits', 'accessToken', 'idempotent'],
  ['get', '/api/v1/deposits/{depositId}', 'accessToken'],
  ['post', '/api/v1/accounts/{accountNo}/withdrawals', 'accessToken', 'idempotent'],
  ['get', '/api/v1/transfer-recipients/{accountNo}', 'accessToken'],
  ['post', '/api/v1/transfers', 'accessToken', 'idempotent'],
  ['get', '/api/v1/transfers/{transferId}', 'accessToken'],
  ['get', '/api/v1/points', 'accessToken'],
  ['post', '/api/v1/points/charge', 'accessToken', 'idempotent'],
  ['get', '/api/v1/points/history', 'accessToken'],
  ['post', '/api/v1/payments', 'accessToken', 'idempotent'],
  ['get', '/api/v1/payments/{paymentId}', 'accessToken'],
  ['post', '/api/v1/admin/coupon-campaigns', 'adminToken'],
  ['get', '/api/v1/coupon-campaigns/{campaignId}', 'accessToken'],
  ['post', '/api/v1/coupon-campaigns/{campaignId}/issue', 'accessToken'],
  ['get', '/api/v1/coupons', 'accessToken'],
  ['get', '/health', 'none'],
  ['get', '/openapi.json', 'none'],
  ['get', '/docs', 'none'],
  ['get', '/.well-known/jwks.json', 'none'],
];

const serviceUrlVariables: Record<UpstreamName, string> = {
  'channel-user': 'NURI_CHANNEL_USER_URL',
  point: 'NURI_POINT_URL',
  coupon: 'NURI_COUPON_URL',
};

async function published(): Promise<{ response: Response; document: OpenApiDocument }> {
  const response = await fetch(`${system.gatewayUrl}/openapi.json`);
  assert.equal(response.status, 200);
  return { response, document: (await response.json()) as OpenApiDocument };
}

function operationsOf(document: OpenApiDocument): Array<[string, string, OpenApiOperation]> {
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]): [string, string, OpenApiOperation] => [
      method,
      path,
      operation,
    ]),
  );
}

function securityOf(operation: OpenApiOperation): Security {
  const names = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
  assert.ok(names.length <= 1, `one scheme at most: ${names.join(', ')}`);
  return (names[0] as Security | undefined) ?? 'none';
}

// Runs first: the gateway's first build of the document happens with point stopped.
test('when a channel service is down at the first request, then the document names it missing and describes the rest, and is complete once it is back', async () => {
  await system.stopService('point');
  try {
    const { response, document } = await published();
    assert.equal(response.headers.get('nuri-openapi-incomplete'), 'point');
    assert.deepEqual((document.info as Record<string, unknown>)['x-nuri-sources'], {
      'channel-user': 'current',
      point: 'missing',
      coupon: 'current',
    });
    assert.match(document.info.description ?? '', /Incomplete.*point/);
    assert.ok(document.paths['/api/v1/accounts'] !== undefined, 'channel-user is still described');
    assert.ok(document.paths['/api/v1/coupons'] !== undefined, 'coupon is still described');
    assert.equal(document.paths['/api/v1/points'], undefined);
  } finally {
    system.startService('point');
    await system.waitUntilReady('point', 60_000);
  }
  // Asked again a few seconds after a failed fetch, not on every request.
  const deadline = Date.now() + 20_000;
  let last = await published();
  while (last.response.headers.get('nuri-openapi-incomplete') !== null && Date.now() < deadline) {
    await sleep(500);
    last = await published();
  }
  assert.equal(last.response.headers.get('nuri-openapi-incomplete'), null);
  assert.ok(last.document.paths['/api/v1/points']?.get !== undefined);
  assert.doesNotMatch(last.document.info.description ?? '', /Incomplete/);
});

describe('GET /openapi.json', () => {
  let document: OpenApiDocument;
  before(async () => {
    const answer = await published();
    assert.match(answer.response.headers.get('content-type') ?? '', /^application\/json/);
    document = answer.document;
  });

  test('then it is an OpenAPI 3.1 document titled Nuri Bank API at the package version, with both bearer schemes', () => {
    assert.match(document.openapi, /^3\.1\.\d+$/);
    assert.equal(document.info.title, 'Nuri Bank API');
    assert.equal(document.info.version, rootPackage.version);
    assert.ok(Object.keys(document.paths).length > 20);
    const schemes = (document.components as { securitySchemes: Record<string, Record<string, string>> })
      .securitySchemes;
    assert.deepEqual(
      { ...schemes.accessToken, description: undefined },
      { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: undefined },
    );
    assert.equal(schemes.adminToken?.type, 'http');
    assert.equal(schemes.adminToken?.scheme, 'bearer');
    assert.ok(document.components?.schemas?.Problem !== undefined);
  });

  test('then every path is in OpenAPI form, and each {parameter} is declared as a required path parameter', () => {
    for (const [method, path, operation] of operationsOf(document)) {
      assert.doesNotMatch(path, /[:*]/, `${path} is not in OpenAPI form`);
      assert.ok(Object.keys(operation.responses).length > 0, `${method} ${path} has responses`);
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]).sort();
      const declared = (operation.parameters ?? [])
        .filter((parameter) => parameter.in === 'path')
        .map((parameter) => {
          assert.equal(parameter.required, true, `${method} ${path}: ${parameter.name} is required`);
          return parameter.name;
        })
        .sort();
      assert.deepEqual(declared, inPath, `${method} ${path}`);
    }
  });

  test('then docs/api.md’s routes are all there, with the credential each needs and the Idempotency-Key on money and resource POSTs', () => {
    for (const [method, path, security, idempotent] of contract) {
      const operation = document.paths[path]?.[method];
      assert.ok(operation !== undefined, `${method.toUpperCase()} ${path} is described`);
      assert.equal(securityOf(operation), security, `${method.toUpperCase()} ${path}: security`);
      const takesKey = (operation.parameters ?? []).some(
        (parameter) => parameter.in === 'header' && parameter.name === 'Idempotency-Key',
      );
      assert.equal(takesKey, idempotent === 'idempotent', `${method.toUpperCase()} ${path}: Idempotency-Key`);
    }
    for (const [method, path, operation] of operationsOf(document)) {
      const takesKey = (operation.parameters ?? []).some((parameter) => parameter.name === 'Idempotency-Key');
      if (takesKey) assert.equal(method, 'post', `${path}: only POSTs take an Idempotency-Key`);
    }
  });

  test('then error answers are problem+json, each described with the shared Problem schema or one with its fields', () => {
    for (const [method, path, operation] of operationsOf(document)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400 || response.content === undefined) continue;
        // /health's 503 is its own JSON body naming the unavailable services.
        if (path === '/health' && status === '503') continue;
        assert.deepEqual(
          Object.keys(response.content),
          ['application/problem+json'],
          `${method} ${path} ${status}`,
        );
      }
    }
    const withdrawal = document.paths['/api/v1/accounts/{accountNo}/withdrawals']?.post;
    assert.deepEqual(withdrawal?.responses['409']?.content, {
      'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
    });
  });

  test('then every route a channel service serves behind a forwarded pattern is described, and no /internal route is', async () => {
    for (const [upstream, variable] of Object.entries(serviceUrlVariables) as Array<[UpstreamName, string]>) {
      const own = await fetch(`${system.env[variable]}/openapi.json`);
      assert.equal(own.status, 200, `${upstream} serves its own document`);
      const theirs = (await own.json()) as OpenApiDocument;
      const patterns = publicRoutes.find((route) => route.upstream === upstream)!.urls;
      let forwardedCount = 0;
      for (const [method, path] of operationsOf(theirs)) {
        assert.doesNotMatch(path, /^\/internal\//, `${upstream}'s own document hides ${path}`);
        if (forwardedTo(path) !== upstream) continue;
        forwardedCount += 1;
        assert.ok(
          document.paths[path]?.[method] !== undefined,
          `${method.toUpperCase()} ${path} of ${upstream}`,
        );
      }
      assert.ok(forwardedCount > 0, `${upstream} (${patterns.join(' ')}) has described routes`);
    }
    for (const path of Object.keys(document.paths)) {
      assert.doesNotMatch(path, /internal/, `${path} must not be published`);
    }
  });

  describe('when each described route is called', () => {
    let customer: Customer;
    before(async () => {
      customer = await newCustomer(client);
    });

    test('then it reaches a route (never the gateway’s 404 for an unknown one) and answers a documented status', async () => {
      const { document: current } = await published();
      for (const [method, path, operation] of operationsOf(current)) {
        const security = securityOf(operation);
        const url = path.replace(/\{([^}]+)\}/g, (_whole, name: string) =>
          name === 'accountNo'
            ? customer.accountNo
            : `01900000-0000-7000-8000-${randomBytes(6).toString('hex')}`,
        );
        const headers: Record<string, string> = {};
        if (security === 'accessToken') headers.authorization = `Bearer ${customer.token}`;
        // A wrong admin token still travels to the owner, which refuses it itself.
        if (security === 'adminToken') headers.authorization = 'Bearer not-the-admin-token';
        const withBody = ['post', 'put', 'patch'].includes(method);
        if (withBody) headers['content-type'] = 'application/json';
        const response = await fetch(`${system.gatewayUrl}${url}`, {
          method: method.toUpperCase(),
          headers,
          ...(withBody ? { body: '{}' } : {}),
        });
        const text = await response.text();
        const what = `${method.toUpperCase()} ${url} → ${response.status} ${text.slice(0, 160)}`;
        const code = response.headers.get('content-type')?.includes('json')
          ? JSON.parse(text).code
          : undefined;
        assert.ok(!(response.status === 404 && code === 'NOT_FOUND'), `no route: ${what}`);
        assert.notEqual(response.status, 405, what);
        assert.ok(response.status < 500, what);
        if (security === 'accessToken')
          assert.notEqual(response.status, 401, `the token was accepted: ${what}`);
        if (security === 'adminToken') assert.ok([401, 403].includes(response.status), what);
        assert.ok(String(response.status) in operation.responses, `documented status: ${what}`);
      }
    });
  });
});

describe('GET /docs', () => {
  test('then an HTML page under a strict Content-Security-Policy, with no inline script, whose every asset loads', async () => {
    const response = await fetch(`${system.gatewayUrl}/docs`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const policy = (response.headers.get('content-security-policy') ?? '').split(/;\s*/);
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ]) {
      assert.ok(policy.includes(directive), `${directive} in ${policy.join('; ')}`);
    }
    assert.ok(
      !policy.some((directive) => directive.startsWith('script-src') && directive.includes('unsafe')),
    );
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((match) => match[1]!);
    assert.ok(scripts.length > 0);
    for (const attributes of scripts) assert.match(attributes, /\bsrc="/, 'no inline script');
    const references = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    assert.ok(references.length >= 3, references.join(' '));
    const expectedTypes: Record<string, RegExp> = { js: /javascript/, css: /^text\/css/, png: /^image\/png/ };
    for (const reference of references) {
      const url = new URL(reference, `${system.gatewayUrl}/docs`);
      assert.equal(url.origin, new URL(system.gatewayUrl).origin, `${reference} is served by the gateway`);
      const asset = await fetch(url);
      const body = Buffer.from(await asset.arrayBuffer());
      assert.equal(asset.status, 200, reference);
      assert.ok(body.length > 0, reference);
      const extension = url.pathname.split('.').at(-1)!;
      assert.match(asset.headers.get('content-type') ?? '', expectedTypes[extension]!, reference);
      if (url.pathname.endsWith('/docs.js')) assert.match(body.toString(), /openapi\.json/);
    }
  });

  test('then nothing else of node_modules can be fetched through the assets route', async () => {
    for (const path of [
      '/docs/assets/package.json',
      '/docs/assets/index.html',
      '/docs/assets/..%2f..%2fpackage.json',
      '/docs/assets/swagger-initializer.js',
    ]) {
      const response = await fetch(`${system.gatewayUrl}${path}`);
      assert.equal(response.status, 404, path);
    }
  });

  test('then, in a real Chromium, it lists every described operation and opens them with no error and no policy violation', async () => {
    const { document } = await published();
    const operations = operationsOf(document).length;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
      // Injected through the DevTools protocol, which the page's policy does not govern.
      await page.exposeFunction('reportViolation', (text: string) => problems.push(`violation: ${text}`));
      await page.addInitScript({
        content: `document.addEventListener('securitypolicyviolation', (event) =>
          window.reportViolation(event.violatedDirective + ' ' + event.blockedURI));`,
      });
      await page.goto(`${system.gatewayUrl}/docs`);
      await page.waitForSelector('.opblock', { timeout: 20_000 });
      assert.equal(await page.locator('.opblock').count(), operations);
      assert.match((await page.locator('.info .title').textContent()) ?? '', /Nuri Bank API/);
      // Open the first operation of each tag: their parameters, bodies and
      // response schemas render too (all of them would take Swagger UI ~15 s).
      const tags = document.tags as Array<{ name: string }>;
      await page.evaluate(
        `for (const section of document.querySelectorAll('.opblock-tag-section'))
          section.querySelector('.opblock-summary-control')?.click();`,
      );
      const opened = page.locator('.opblock-body .responses-wrapper');
      // Swagger UI renders each opened operation in turn; on a loaded machine that took over 20 s.
      await opened.nth(tags.length - 1).waitFor({ timeout: 60_000 });
      assert.equal(await opened.count(), tags.length);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });
});
