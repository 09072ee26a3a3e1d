import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '@nuri/platform/errors';
import type { HttpApp } from '@nuri/platform/http';
import type { FastifyReply } from 'fastify';

/**
 * The pages' policy: scripts and styles only from this origin (no inline
 * script, no inline style, no eval), data only from this origin's API, never
 * framed, no plugins, no <base> tricks, forms post only here.
 */
export const consoleContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

const pages: Readonly<Record<string, string>> = { '/': 'index.html', '/ops': 'ops.html' };
const assetName = /^[a-z0-9-]{1,40}\.(js|css|svg)$/;
const contentTypes: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

export function pageSecurityHeaders(reply: FastifyReply): FastifyReply {
  return reply.headers({
    'content-security-policy': consoleContentSecurityPolicy,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  });
}

/**
 * The web console (web/console, built into `webDir` by `nuri start`/`nuri
 * build-web`): the customer's at /, the operator's at /ops, their assets at
 * /assets/*. Files are read once and kept: they change only with a new build,
 * which comes with a new gateway. No token ever travels in these URLs.
 */
export function registerConsoleRoutes(app: HttpApp, options: { webDir: string }): void {
  const cache = new Map<string, Buffer>();
  const load = async (relative: string): Promise<Buffer> => {
    const cached = cache.get(relative);
    if (cached !== undefined) return cached;
    try {
      const content = await readFile(join(options.webDir, relative));
      cache.set(relative, content);
      return content;
    } catch {
      throw new AppError(
        'CONSOLE_NOT_BUILT',
        503,
        'The web console is not built here; run `npx nuri build-web` (npm start does it)',
      );
    }
  };

  for (const [url, file] of Object.entries(pages)) {
    app.get(url, { schema: { hide: true } }, async (_request, reply) => {
      const body = await load(file);
      return pageSecurityHeaders(reply)
        .header('content-type', contentTypes.html)
        .header('cache-control', 'no-cache')
        .send(body);
    });
  }

  app.get<{ Params: { name: string } }>(
    '/assets/:name',
    { schema: { hide: true } },
    async (request, reply) => {
      const { name } = request.params;
      const match = assetName.exec(name);
      if (match === null) throw new AppError('NOT_FOUND', 404, 'No such asset');
      const body = await load(join('assets', name)).catch((error: unknown) => {
        if (error instanceof AppError && cache.size > 0)
          throw new AppError('NOT_FOUND', 404, 'No such asset');
        throw error;
      });
      return pageSecurityHeaders(reply)
        .header('content-type', contentTypes[match[1]!]!)
        .header('cache-control', 'no-cache')
        .send(body);
    },
  );
}
