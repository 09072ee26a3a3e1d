import type { Logger } from '@nuri/platform/logger';
import { type OpenApiDocument, openApiPath } from '@nuri/platform/openapi';
import type { Upstream } from '@nuri/platform/upstream';
import type { UpstreamName } from '../routing.ts';
import { mergeDocuments, type ServiceSource } from './document.ts';

// Each channel service serves its own document at GET /openapi.json (platform
// openapi.ts). The gateway fetches them over the same balanced upstreams it
// forwards with, merges them with its own (document.ts) and keeps the result:
// a client's request costs no call to a service while the result is fresh.
// A service that does not answer is left out (or its last copy kept) and the
// document says so; the gateway asks it again after `retryMs`, not on every
// request, and never more than one fetch of each at a time.

export interface DocumentCatalogOptions {
  /** The gateway's own routes (available once the app is ready). */
  gatewayDocument: () => OpenApiDocument;
  services: Readonly<Record<UpstreamName, Upstream>>;
  logger: Logger;
  /** A complete document is kept this long; each service's part too. */
  freshMs?: number;
  /** An incomplete one this long, before the missing services are asked again. */
  retryMs?: number;
  /** One service's fetch, retries included. */
  fetchTimeoutMs?: number;
  now?: () => number;
}

export interface PublishedDocument {
  /** The serialized document. */
  body: string;
  /** Services whose part is missing or an earlier copy; empty when complete. */
  incomplete: readonly UpstreamName[];
}

export interface DocumentCatalog {
  current(): Promise<PublishedDocument>;
}

// A service's routes change only when it is redeployed: five minutes bounds
// how long its new routes stay undescribed here.
const defaultFreshMs = 300_000;
const defaultRetryMs = 5_000;
const defaultFetchTimeoutMs = 3_000;

export function createDocumentCatalog(options: DocumentCatalogOptions): DocumentCatalog {
  const {
    logger,
    services,
    freshMs = defaultFreshMs,
    retryMs = defaultRetryMs,
    fetchTimeoutMs = defaultFetchTimeoutMs,
    now = Date.now,
  } = options;
  const names = Object.keys(services) as UpstreamName[];
  const fetched = new Map<UpstreamName, { document: OpenApiDocument; atMs: number }>();
  let published: { value: PublishedDocument; untilMs: number } | undefined;
  let building: Promise<PublishedDocument> | undefined;

  async function refresh(service: UpstreamName): Promise<boolean> {
    const last = fetched.get(service);
    if (last !== undefined && now() - last.atMs < freshMs) return true;
    try {
      fetched.set(service, { document: await fetchDocument(services[service], fetchTimeoutMs), atMs: now() });
      return true;
    } catch (error) {
      logger.warn({ upstream: service, err: error }, 'could not fetch the OpenAPI document of a service');
      return false;
    }
  }

  async function build(): Promise<PublishedDocument> {
    const answered = await Promise.all(names.map(refresh));
    const sources: ServiceSource[] = names.map((service, index) => {
      const document = fetched.get(service)?.document;
      const state = answered[index] ? 'current' : document === undefined ? 'missing' : 'stale';
      return { service, document, state };
    });
    const { document, rejected } = mergeDocuments(options.gatewayDocument(), sources);
    for (const service of rejected) {
      logger.error({ upstream: service }, 'the OpenAPI document of a service contradicts another; left out');
    }
    const incomplete = sources
      .filter(({ service, state }) => state !== 'current' || rejected.includes(service))
      .map(({ service }) => service);
    const value = { body: JSON.stringify(document), incomplete };
    published = { value, untilMs: now() + (incomplete.length === 0 ? freshMs : retryMs) };
    return value;
  }

  return {
    current() {
      if (published !== undefined && now() < published.untilMs) return Promise.resolve(published.value);
      building ??= build().finally(() => {
        building = undefined;
      });
      return building;
    },
  };
}

async function fetchDocument(upstream: Upstream, timeoutMs: number): Promise<OpenApiDocument> {
  // Right after start the first round of probes is still out (as for GET /health).
  await upstream.firstProbe();
  const answer = await upstream.request({
    method: 'GET',
    path: openApiPath,
    headers: { accept: 'application/json' },
    retriesMax: 1,
    deadlineMs: timeoutMs,
  });
  if (answer.status !== 200) throw new Error(`${upstream.name} answered ${answer.status}`);
  const document: unknown = JSON.parse(answer.body.toString('utf8'));
  if (!isOpenApi31(document)) throw new Error(`${upstream.name} answered no OpenAPI 3.1 document`);
  return document;
}

function isOpenApi31(value: unknown): value is OpenApiDocument {
  if (typeof value !== 'object' || value === null) return false;
  const { openapi, paths } = value as { openapi?: unknown; paths?: unknown };
  return (
    typeof openapi === 'string' &&
    openapi.startsWith('3.1.') &&
    typeof paths === 'object' &&
    paths !== null &&
    !Array.isArray(paths)
  );
}
