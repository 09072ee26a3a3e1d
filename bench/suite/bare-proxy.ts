// The bare-proxy ceiling's proxy: what one hop costs with nothing but the hop.
// A node:http server that passes each request to one upstream (argv[2])
// through an undici Pool, as the gateway does (keep-alive, no pipelining,
// the answer buffered and sent on whole), and nothing else: no router,
// hooks, logger, metrics, token check, rate limit or validation. Its own
// process like a service; it listens on a free port and tells its parent
// which one.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, Pool } from 'undici';

const upstream = process.argv[2];
if (upstream === undefined) throw new Error('usage: bare-proxy.ts <upstream URL>');

// The gateway's default pool size (NURI_UPSTREAM_CONNECTIONS_MAX).
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });

/** The hop-by-hop headers (RFC 9110 §7.6.1) and the ones the proxy sets itself. */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'host',
  'te',
  'trailer',
  'upgrade',
]);

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !hopByHop.has(name)) kept[name] = value;
  }
  return kept;
}

/** One request's passage through the pool: the upstream's answer, or the error that stopped it. */
function forward(
  method: Dispatcher.HttpMethod,
  path: string,
  headers: Record<string, string | string[]>,
  body: Buffer | null,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let status = 502;
    let answerHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    pool.dispatch(
      { origin: upstream, method, path, headers, body },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode, responseHeaders) {
          status = statusCode;
          answerHeaders = responseHeaders;
        },
        onResponseData(_controller, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve({ status, headers: answerHeaders, body: Buffer.concat(chunks) });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
}

const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = chunks.length === 0 ? null : Buffer.concat(chunks);
    forward(
      request.method as Dispatcher.HttpMethod,
      request.url ?? '/',
      endToEnd(request.headers),
      body,
    ).then(
      (answer) => {
        response.writeHead(answer.status, {
          ...endToEnd(answer.headers),
          'content-length': answer.body.length,
        });
        response.end(answer.body);
      },
      () => {
        response.writeHead(502, { 'content-length': 0 });
        response.end();
      },
    );
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
process.once('SIGTERM', () => {
  server.close();
  void pool.close().then(() => process.exit(0));
});
// The suite gone (its IPC channel closed) means nobody will stop this proxy.
process.once('disconnect', () => process.exit(0));
