// The cases: for every public route of /openapi.json, requests drawn from
// its own schemas, then mutated (wrong types, numbers beyond 2^53, Unicode,
// long strings, deep nesting, duplicate keys, broken JSON, other content
// types, hostile path and query values, bad tokens), each a raw request with
// the route it counts for. Drawn by fast-check from the seed: the same seed
// gives the same cases.
import fc from 'fast-check';
import type { RawRequest } from './http.ts';
import { allowedValue, hostileStrings, type JsonSchema, mutationOf } from './schema.ts';
import type { BadToken } from './tokens.ts';

export interface FuzzCase {
  /** `POST /api/v1/transfers`: the route it counts for. */
  route: string;
  family: string;
  describe: string;
  request: RawRequest;
  /** A token that must be refused (401): an answer in 2xx is a finding. */
  badToken?: boolean;
}

export interface FuzzContext {
  accessToken: string;
  adminToken: string;
  /** Values that exist, for path parameters: accountNo, depositId, campaignId, … */
  known: Record<string, string>;
  badTokens: readonly BadToken[];
}

interface OpenApiOperation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  security?: Array<Record<string, string[]>>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

const hostileSegments: readonly string[] = [
  '',
  '0',
  '-1',
  '..',
  '%2e%2e',
  '..%2f..%2finternal%2fv1%2freconciliation',
  '%00',
  '%ff%fe',
  'a'.repeat(5_000),
  '000-000-000000',
  '123-456-789012',
  '01890a5d-ac96-774b-bcce-b302099a8057',
  '00000000-0000-0000-0000-000000000000',
  "1'%20OR%20'1'='1",
  '%E2%80%AE',
  '%F0%9F%92%B8',
  '%EA%B0%80',
];

const contentTypes: readonly string[] = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/JSON',
  'application/json, text/plain',
  'application/jsonp',
];

export function casesOf(
  document: OpenApiDocument,
  context: FuzzContext,
  seed: number,
  runs: number,
): FuzzCase[] {
  const cases: FuzzCase[] = [];
  let stream = seed;
  const sample = <T>(arbitrary: fc.Arbitrary<T>, count: number): T[] => {
    stream += 1;
    return fc.sample(arbitrary, { seed: stream, numRuns: count });
  };
  for (const [template, operations] of Object.entries(document.paths)) {
    for (const [lowerMethod, operation] of Object.entries(operations)) {
      const method = lowerMethod.toUpperCase();
      const route = `${method} ${template}`;
      const auth = authorizationOf(operation, context);
      const body = operation.requestBody?.content?.['application/json']?.schema;
      const headers = (extra: Array<readonly [string, string]> = []) => [
        ...(auth === undefined ? [] : [['Authorization', `Bearer ${auth}`] as const]),
        ['Idempotency-Key', `fuzz-${seed}-${cases.length}`] as const,
        ...extra,
      ];
      const target = (values: Record<string, string> = {}, query = '') =>
        `${template.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? context.known[name] ?? 'x')}${query}`;
      const withBody = (text: string | undefined, extra: Array<readonly [string, string]> = []) => ({
        method,
        target: target(),
        headers: headers(
          text === undefined ? extra : [['Content-Type', 'application/json'] as const, ...extra],
        ),
        ...(text === undefined ? {} : { body: text }),
      });

      // From the route's own schema.
      if (body !== undefined) {
        for (const value of sample(allowedValue(body), runs)) {
          cases.push({
            route,
            family: 'schema',
            describe: 'a body its schema allows',
            request: withBody(JSON.stringify(value)),
          });
        }
        for (const mutation of sample(mutationOf(body), runs)) {
          cases.push({
            route,
            family: mutation.family,
            describe: mutation.describe,
            request: withBody(mutation.body),
          });
        }
        for (const type of contentTypes) {
          cases.push({
            route,
            family: 'content-type',
            describe: `Content-Type: ${type}`,
            request: {
              method,
              target: target(),
              headers: [...headers(), ['Content-Type', type]],
              body: JSON.stringify(sample(allowedValue(body), 1)[0]),
            },
          });
        }
      } else {
        for (let index = 0; index < Math.max(1, Math.floor(runs / 4)); index += 1) {
          cases.push({ route, family: 'schema', describe: 'as documented', request: withBody(undefined) });
        }
        if (method === 'POST') {
          cases.push({
            route,
            family: 'broken-json',
            describe: 'a body where none is taken',
            request: withBody('{"x":'),
          });
        }
      }

      // Path and query parameters: known good values, then hostile ones.
      const parameters = operation.parameters ?? [];
      const pathNames = parameters
        .filter((parameter) => parameter.in === 'path')
        .map((parameter) => parameter.name);
      const queryParameters = parameters.filter((parameter) => parameter.in === 'query');
      if (pathNames.length > 0) {
        for (const segment of sample(
          fc.constantFrom(...hostileSegments),
          Math.max(8, Math.floor(runs / 2)),
        )) {
          const values = Object.fromEntries(pathNames.map((name) => [name, segment]));
          cases.push({
            route,
            family: 'path',
            describe: `path parameter ${JSON.stringify(segment.slice(0, 40))}`,
            request: { method, target: target(values), headers: headers() },
          });
        }
      }
      for (const parameter of queryParameters) {
        const values = sample(
          fc.oneof(
            allowedValue(parameter.schema ?? {}).map((value) => String(value)),
            fc.constantFrom(...hostileStrings, ...['-1', '0', '101', '1e2', '99999999999999999999', 'NaN']),
          ),
          Math.max(6, Math.floor(runs / 4)),
        );
        for (const value of values) {
          cases.push({
            route,
            family: 'query',
            describe: `?${parameter.name}=${JSON.stringify(value).slice(0, 40)}`,
            request: {
              method,
              target: target({}, `?${parameter.name}=${percentEncoded(value)}`),
              headers: headers(),
              ...(body === undefined ? {} : { body: '{}' }),
            },
          });
        }
      }

      // Tokens that must be refused, on every route that takes one.
      if (auth !== undefined && auth === context.accessToken) {
        for (const token of context.badTokens) {
          cases.push({
            route,
            family: 'token',
            describe: token.describe,
            badToken: true,
            request: {
              method,
              target: target(),
              headers: [
                ['Authorization', `Bearer ${token.value}`],
                ...(body === undefined ? [] : [['Content-Type', 'application/json'] as const]),
              ],
              ...(body === undefined ? {} : { body: JSON.stringify(sample(allowedValue(body), 1)[0]) }),
            },
          });
        }
      }
    }
  }
  return cases;
}

/** Every byte of the UTF-8 encoding escaped: lone surrogates too (as U+FFFD), where encodeURIComponent throws. */
function percentEncoded(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
}

function authorizationOf(operation: OpenApiOperation, context: FuzzContext): string | undefined {
  const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
  if (schemes.includes('adminToken')) return context.adminToken;
  if (schemes.includes('accessToken')) return context.accessToken;
  return undefined;
}

/** Requests no schema describes: broken HTTP, floods, oversized and smuggled bodies, hostile paths. */
export function httpCases(context: FuzzContext): FuzzCase[] {
  const auth: Array<readonly [string, string]> = [['Authorization', `Bearer ${context.accessToken}`]];
  const json: Array<readonly [string, string]> = [['Content-Type', 'application/json']];
  const deposit = `/api/v1/accounts/${context.known.accountNo}/deposits`;
  const one = (describe: string, request: RawRequest, route = 'HTTP'): FuzzCase => ({
    route,
    family: 'http',
    describe,
    request,
  });
  return [
    one('500 headers', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [
        ...auth,
        ...Array.from({ length: 500 }, (_, index) => [`X-Flood-${index}`, 'a'.repeat(40)] as const),
      ],
    }),
    one('one 20 KB header', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ['X-Big', 'b'.repeat(20_000)]],
    }),
    one('a 16 KB cookie', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ['Cookie', `a=${'c'.repeat(16_000)}`]],
    }),
    one('two Authorization headers', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ['Authorization', 'Bearer x.y.z']],
    }),
    one('two different Content-Lengths', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Content-Length', '5'], ['Content-Length', '13']],
      body: '{"amount":1}',
      contentLength: false,
    }),
    one('Transfer-Encoding and Content-Length (request smuggling)', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Transfer-Encoding', 'chunked'], ['Content-Length', '4']],
      body: '0\r\n\r\nGET /internal/v1/reconciliation HTTP/1.1\r\nHost: x\r\n\r\n',
      contentLength: false,
    }),
    one('a 1 MB body', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Idempotency-Key', 'fuzz-big-body']],
      body: `{"amount":1,"pad":"${'p'.repeat(1_000_000)}"}`,
    }),
    one('a 1 MB chunked body', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Transfer-Encoding', 'chunked']],
      body: `${(1_000_000).toString(16)}\r\n${'q'.repeat(1_000_000)}\r\n0\r\n\r\n`,
      contentLength: false,
    }),
    one('a 64 KB URL', { method: 'GET', target: `/api/v1/me?${'u'.repeat(65_536)}`, headers: auth }),
    one('10,000 query parameters', {
      method: 'GET',
      target: `/api/v1/points/history?${Array.from({ length: 10_000 }, (_, index) => `p${index}=1`).join('&')}`,
      headers: auth,
    }),
    one('the same query parameter 1,000 times', {
      method: 'GET',
      target: `/api/v1/points/history?${Array.from({ length: 1_000 }, () => 'limit=5').join('&')}`,
      headers: auth,
    }),
    ...[
      '/api/v1/../internal/v1/reconciliation',
      '/api/v1/%2e%2e/%2e%2e/internal/v1/reconciliation',
      '//internal/v1/reconciliation',
      '/internal/v1/reconciliation',
      '/api/v1/accounts/..%2f..%2finternal%2fv1%2freconciliation',
      '/api\\v1\\me',
      '/api/v1/me%00',
      '/api/v1/me/',
      '/API/V1/ME',
      `/${'%2e'.repeat(200)}`,
      '/metrics',
      '/health/ready',
    ].map((target) =>
      one(`path ${target.slice(0, 60)}`, { method: 'GET', target, headers: auth }, 'HTTP paths'),
    ),
    ...['TRACE', 'OPTIONS', 'PROPFIND', 'CONNECT', 'get', 'DELETE', 'PATCH', 'HEAD'].map((method) =>
      one(`method ${method}`, { method, target: '/api/v1/me', headers: auth }, 'HTTP methods'),
    ),
    one('a GET with a body', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ...json],
      body: '{"a":1}',
    }),
    one('an absolute-form target', { method: 'GET', target: 'http://evil.example/api/v1/me', headers: auth }),
    one('a body of invalid UTF-8', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Idempotency-Key', 'fuzz-utf8']],
      body: Buffer.from([0x7b, 0x22, 0x61, 0x6d, 0x6f, 0x75, 0x6e, 0x74, 0x22, 0x3a, 0xff, 0xfe, 0x7d]),
    }),
    one('an Idempotency-Key of 10 KB', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Idempotency-Key', 'k'.repeat(10_000)]],
      body: '{"amount":1}',
    }),
    one('an Idempotency-Key with Unicode', {
      method: 'POST',
      target: deposit,
      headers: [...auth, ...json, ['Idempotency-Key', Buffer.from('키-🔑', 'utf8').toString('latin1')]],
      body: '{"amount":1}',
    }),
    one('an x-request-id of 5 KB with control characters', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ['X-Request-Id', `\u0001${'r'.repeat(5_000)}`]],
    }),
    one('X-Forwarded-For spoofing', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ['X-Forwarded-For', '1.2.3.4, 127.0.0.1'], ['X-Forwarded-Proto', 'https']],
    }),
    one('an x-user-uuid header of someone else', {
      method: 'GET',
      target: '/api/v1/me',
      headers: [...auth, ['X-User-Uuid', '01890a5d-ac96-774b-bcce-b302099a8057']],
    }),
  ];
}
