import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { apiTitle } from './document.ts';

// GET /docs renders /openapi.json with Swagger UI (swagger-ui-dist), served
// from node_modules by the gateway itself: no CDN at run time. Chosen over
// Redoc and Scalar because its distribution is plain prebuilt files with no
// runtime dependency, it is the most widely used renderer (SmartBear's
// Swagger project, released every few weeks), renders OpenAPI 3.1, and runs
// under a strict policy: no eval, no inline script, nothing from another
// origin (Scalar loads its fonts from its CDN by default; Redoc's standalone
// bundle starts its search worker from a blob: URL).
// What it still needs: its CSS draws icons from data: URLs (img-src data:).
// No inline style: React sets its styles through the DOM, which the policy
// does not govern (checked in a real Chromium by e2e/openapi.test.ts).

/** The page's policy: only this origin, no inline script or style, images also from data: URLs. */
export const docsContentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const docsPath = '/docs';
export const docsAssetsPath = '/docs/assets';

export interface DocsAsset {
  contentType: string;
  body: Buffer;
  /** Compressed once on first request, for the text assets (the bundle is 1.8 MB, 0.5 MB gzipped). */
  gzipped?: Buffer;
}

const rendererDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ownDir = dirname(fileURLToPath(import.meta.url));

const javascript = 'text/javascript; charset=utf-8';
const assetFiles: ReadonlyArray<{ name: string; file: string; contentType: string }> = [
  {
    name: 'swagger-ui.css',
    file: join(rendererDir, 'swagger-ui.css'),
    contentType: 'text/css; charset=utf-8',
  },
  { name: 'swagger-ui-bundle.js', file: join(rendererDir, 'swagger-ui-bundle.js'), contentType: javascript },
  { name: 'favicon-32x32.png', file: join(rendererDir, 'favicon-32x32.png'), contentType: 'image/png' },
  { name: 'docs.js', file: join(ownDir, 'docs-initializer.js'), contentType: javascript },
];

/**
 * The page's files, read at start (a missing renderer fails the boot, not a
 * reader's request). Only these names are served: nothing else of
 * node_modules can be reached through the route.
 */
export function loadDocsAssets(): ReadonlyMap<string, DocsAsset> {
  return new Map(
    assetFiles.map(({ name, file, contentType }) => [name, { contentType, body: readFileSync(file) }]),
  );
}

/** The gzipped body when the client takes gzip and the asset is text; otherwise undefined. */
export function gzippedBody(asset: DocsAsset, acceptEncoding: string | undefined): Buffer | undefined {
  if (!asset.contentType.startsWith('text/') || !/\bgzip\b/.test(acceptEncoding ?? '')) return undefined;
  asset.gzipped ??= gzipSync(asset.body);
  return asset.gzipped;
}

// Relative URLs: the page works under whatever prefix the gateway is reached at.
export const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${apiTitle}</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/docs.js"></script>
</body>
</html>
`;
