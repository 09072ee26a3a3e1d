import { isDeepStrictEqual } from 'node:util';
import {
  apiVersion,
  type OpenApiDocument,
  type OpenApiOperation,
  openApiVersion,
  problemResponse,
} from '@nuri/platform/openapi';
import { needsAccessToken, publicRoutes, type UpstreamName } from '../routing.ts';

// GET /openapi.json is the gateway's own routes plus, from each channel
// service's document, the paths the gateway forwards to that service
// (routing.ts). What the gateway itself decides is stated here: which token a
// route needs, and the errors the gateway answers before or instead of the
// service (rate limits, an unreachable or slow service, a body too large).

export const apiTitle = 'Nuri Bank API';
const adminPrefix = '/api/v1/admin/';

const apiDescription = [
  'The public API of Nuri Bank, through the gateway; generated from the route schemas of the gateway and',
  'of the channel services behind it.',
  '',
  '- Money is integer won as a JSON integer; floats, strings and negatives are refused (400).',
  '- Errors are RFC 9457 `application/problem+json`; clients branch on `code`.',
  '- A POST that moves money or creates a resource takes an `Idempotency-Key`.',
  '- Every response carries `x-request-id`.',
].join('\n');

/** How fresh each service's part of the document is. */
export type SourceState = 'current' | 'stale' | 'missing';

export interface ServiceSource {
  service: UpstreamName;
  /** The last document fetched from it, if any. */
  document: OpenApiDocument | undefined;
  /** current: fetched now or recently; stale: the last fetch failed, an older one is used; missing: none. */
  state: SourceState;
}

export interface MergedDocument {
  document: OpenApiDocument;
  /** Services left out because their document contradicts another's components. */
  rejected: UpstreamName[];
}

const securitySchemes = {
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The access token of POST /api/v1/auth/login (Ed25519 JWT, verifiable with the JWKS).',
  },
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The operator’s admin token (NURI_ADMIN_TOKEN).',
  },
} as const;

const methodsWithBody = new Set(['post', 'put', 'patch']);

/** Route urls (Fastify form) of the gateway that are not operations of its own: the forwarding routes and wildcards. */
export function isForwardingRoute(url: string): boolean {
  return url.includes('*') || publicRoutes.some(({ urls }) => urls.includes(url));
}

/**
 * The service the gateway forwards an OpenAPI path (`/api/v1/accounts/{accountNo}`)
 * to, as its router would choose: an exact route before a wildcard, the
 * longest wildcard first. /internal/* never.
 */
export function forwardedTo(path: string): UpstreamName | undefined {
  if (path === '/internal' || path.startsWith('/internal/')) return undefined;
  const concrete = path.replace(/\{[^}/]+\}/g, 'x');
  let best: { upstream: UpstreamName; prefixLength: number } | undefined;
  for (const { upstream, urls } of publicRoutes) {
    for (const url of urls) {
      if (url === concrete) return upstream;
      if (!url.endsWith('/*')) continue;
      const prefix = url.slice(0, -1);
      if (concrete.startsWith(prefix) && (best === undefined || prefix.length > best.prefixLength))
        best = { upstream, prefixLength: prefix.length };
    }
  }
  return best?.upstream;
}

/** The gateway's document and the public part of each service's, as one. */
export function mergeDocuments(gateway: OpenApiDocument, sources: readonly ServiceSource[]): MergedDocument {
  const schemas: Record<string, unknown> = { ...gateway.components?.schemas };
  const forwarded: OpenApiDocument['paths'] = {};
  const rejected: UpstreamName[] = [];
  for (const { service, document } of sources) {
    if (document === undefined) continue;
    const theirs = document.components?.schemas ?? {};
    const conflicting = Object.keys(theirs).some(
      (name) => name in schemas && !isDeepStrictEqual(schemas[name], theirs[name]),
    );
    if (conflicting) {
      rejected.push(service);
      continue;
    }
    Object.assign(schemas, theirs);
    for (const [path, operations] of Object.entries(document.paths)) {
      if (forwardedTo(path) !== service) continue;
      for (const [method, operation] of Object.entries(operations)) {
        // A route of the gateway's own wins over its wildcard to a service, as in its router.
        if (gateway.paths[path]?.[method] !== undefined) continue;
        put(forwarded, path, method, forwardedOperation(path, method, operation));
      }
    }
  }
  // The services' routes first, in the order they declare them; the gateway's own after.
  const paths: OpenApiDocument['paths'] = forwarded;
  for (const [path, operations] of Object.entries(gateway.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      put(paths, path, method, ownOperation(path, operation));
    }
  }
  const document: OpenApiDocument = {
    openapi: openApiVersion,
    info: describeInfo(sources, rejected),
    tags: tagsOf(paths),
    paths,
    components: { schemas, securitySchemes },
  };
  return { document, rejected };
}

function put(
  paths: OpenApiDocument['paths'],
  path: string,
  method: string,
  operation: OpenApiOperation,
): void {
  paths[path] = { ...paths[path], [method]: operation };
}

function describeInfo(sources: readonly ServiceSource[], rejected: readonly UpstreamName[]) {
  const states: Record<string, SourceState> = {};
  for (const { service, state } of sources) states[service] = rejected.includes(service) ? 'missing' : state;
  const lacking = Object.entries(states).filter(([, state]) => state !== 'current');
  const notice =
    lacking.length === 0
      ? ''
      : `\n\n**Incomplete**: ${lacking
          .map(([service, state]) =>
            state === 'stale'
              ? `the routes of ${service} are from an earlier copy (it did not answer just now)`
              : `the routes of ${service} are missing (it did not answer)`,
          )
          .join('; ')}. Reload later for the full description.`;
  return {
    title: apiTitle,
    version: apiVersion,
    description: `${apiDescription}${notice}`,
    /** Each service's part: current, stale (an earlier copy) or missing. */
    'x-nuri-sources': states,
  };
}

function ownOperation(path: string, operation: OpenApiOperation): OpenApiOperation {
  return {
    ...operation,
    tags: operation.tags ?? [tagOf(path)],
    security: path.startsWith(adminPrefix) ? [{ adminToken: [] }] : [],
  };
}

function forwardedOperation(path: string, method: string, operation: OpenApiOperation): OpenApiOperation {
  const admin = path.startsWith(adminPrefix);
  const customer = !admin && needsAccessToken(path);
  const responses = { ...operation.responses };
  const add = (status: string, description: string) => {
    responses[status] ??= problemResponse(description);
  };
  if (customer) add('401', 'UNAUTHENTICATED: the access token is missing, invalid or expired');
  if (methodsWithBody.has(method)) add('413', 'PAYLOAD_TOO_LARGE: the body exceeds 64 KiB');
  add('429', 'RATE_LIMITED: too many requests from this client or user; see Retry-After');
  add('502', 'UPSTREAM_FAILED: the service behind the gateway answered something it cannot pass on');
  add('503', 'UPSTREAM_UNAVAILABLE (or the service’s own 503): retry shortly, with the same Idempotency-Key');
  add('504', 'UPSTREAM_TIMEOUT: the service behind the gateway did not answer in time');
  return {
    ...operation,
    tags: operation.tags ?? [tagOf(path)],
    security: admin ? [{ adminToken: [] }] : customer ? [{ accessToken: [] }] : [],
    responses,
  };
}

// Readers look for a resource, not for the service that owns it.
const tagAliases: Readonly<Record<string, string>> = { me: 'auth', 'transfer-recipients': 'transfers' };

function tagOf(path: string): string {
  const segment = /^\/api\/v1\/([^/]+)/.exec(path)?.[1];
  if (segment === undefined) return 'system';
  return tagAliases[segment] ?? segment;
}

// In the order the routes come, the operator's and the system's last.
function tagsOf(paths: OpenApiDocument['paths']): Array<{ name: string }> {
  const names = new Set<string>();
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) for (const tag of operation.tags ?? []) names.add(tag);
  }
  const last = ['admin', 'system'];
  const ordered = [
    ...[...names].filter((name) => !last.includes(name)),
    ...last.filter((name) => names.has(name)),
  ];
  return ordered.map((name) => ({ name }));
}
