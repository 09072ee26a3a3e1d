import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import type { Logger } from '@nuri/platform/logger';
import { openApiDocument, openApiPath } from '@nuri/platform/openapi';
import type { Upstream } from '@nuri/platform/upstream';
import { Type } from 'typebox';
import { channelServices, type ServiceName } from '../config.ts';
import { createDocumentCatalog } from '../openapi/catalog.ts';
import {
  docsAssetsPath,
  docsContentSecurityPolicy,
  docsPage,
  docsPath,
  gzippedBody,
  loadDocsAssets,
} from '../openapi/docs-page.ts';

export interface DocsRouteDeps {
  /** Every service behind the gateway; the channel ones' documents are merged in. */
  services: Readonly<Record<ServiceName, Upstream>>;
  logger: Logger;
}

/** Names the services whose part of the document is missing or an earlier copy. */
export const incompleteHeader = 'nuri-openapi-incomplete';

// Typed as the text it is sent as (serialized once per refresh, not per request).
const OpenApiBody = Type.Unsafe<string>(
  Type.Object(
    { openapi: Type.String(), info: Type.Object({}, { additionalProperties: true }), paths: Type.Object({}) },
    { additionalProperties: true, description: 'This OpenAPI 3.1 document' },
  ),
);
const AssetParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * GET /openapi.json (the API's description: the gateway's routes and the
 * channel services' public ones) and GET /docs (a page rendering it), both
 * anonymous. Routes described by the gateway are collected by describeRoutes
 * (platform openapi.ts), which buildApp runs before any route.
 */
export function registerDocsRoutes(app: HttpApp, deps: DocsRouteDeps): void {
  const catalog = createDocumentCatalog({
    gatewayDocument: () => openApiDocument(app),
    services: Object.fromEntries(channelServices.map((name) => [name, deps.services[name]])) as Record<
      (typeof channelServices)[number],
      Upstream
    >,
    logger: deps.logger,
  });
  const assets = loadDocsAssets();

  app.get(
    openApiPath,
    {
      schema: { description: 'This description of the API, as OpenAPI 3.1.', response: { 200: OpenApiBody } },
    },
    async (_request, reply) => {
      const published = await catalog.current();
      if (published.incomplete.length > 0) reply.header(incompleteHeader, published.incomplete.join(','));
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(published.body);
    },
  );

  app.get(
    docsPath,
    {
      schema: {
        description: 'A page rendering this description (Swagger UI).',
        produces: ['text/html'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) =>
      reply
        .headers({
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': docsContentSecurityPolicy,
          'referrer-policy': 'no-referrer',
          'cache-control': 'no-cache',
        })
        .send(docsPage),
  );

  app.get(
    `${docsAssetsPath}/:name`,
    { schema: { hide: true, params: AssetParams } },
    async (request, reply) => {
      const asset = assets.get(request.params.name);
      if (asset === undefined) throw new AppError('NOT_FOUND', 404, 'No such file');
      const gzipped = gzippedBody(asset, request.headers['accept-encoding']);
      reply.headers({
        'content-type': asset.contentType,
        // Not versioned in the URL: an hour bounds how long an upgraded renderer waits.
        'cache-control': 'public, max-age=3600',
        vary: 'accept-encoding',
      });
      if (gzipped !== undefined) reply.header('content-encoding', 'gzip');
      return reply.send(gzipped ?? asset.body);
    },
  );
}
