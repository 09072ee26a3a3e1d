import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '@nuri/platform/errors';
import { type Dispatcher, Pool } from 'undici';
import type { ChannelUpstreams } from './config.ts';
import type { UpstreamName } from './routing.ts';

export interface ProxyOptions {
  upstreams: ChannelUpstreams;
  timeoutMs: number;
  connectionsMax: number;
}

export interface ForwardRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  requestId: string;
  clientIp: string;
  /** The verified token's subject; absent on anonymous routes. */
  userUuid: string | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface UpstreamProxy {
  forward(upstream: UpstreamName, request: ForwardRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** An upstream answer larger than this is not a page of our API: refuse it rather than buffer it. */
const responseBytesMax = 4 * 1_048_576;

// Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself. A
// client's x-user-uuid is dropped: only the verified token names the user.
const requestHeadersDropped = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
  'x-user-uuid',
  'x-request-id',
  'x-forwarded-for',
  'forwarded',
]);
const responseHeadersDropped = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'trailer',
  'upgrade',
  'x-request-id',
  'date',
]);

export function createProxy(options: ProxyOptions): UpstreamProxy {
  const pools = new Map<UpstreamName, Pool>();
  for (const [name, url] of Object.entries(options.upstreams) as Array<[UpstreamName, string]>) {
    pools.set(
      name,
      new Pool(url, {
        connections: options.connectionsMax,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 60_000,
        connectTimeout: Math.min(options.timeoutMs, 5_000),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      }),
    );
  }

  return {
    forward(upstream, request) {
      const pool = pools.get(upstream)!;
      // dispatch with a handler that gathers the answer, rather than
      // pool.request: no Readable and async iterator per answer, which the
      // gateway would only turn back into one Buffer.
      return new Promise((resolve, reject) => {
        pool.dispatch(
          {
            method: request.method as Dispatcher.HttpMethod,
            path: request.url,
            headers: forwardedHeaders(request),
            body: request.body ?? null,
          },
          new AnswerCollector(resolve, reject),
        );
      });
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    },
  };
}

/** Collects one upstream answer into a Buffer, refusing it past responseBytesMax. */
class AnswerCollector implements Dispatcher.DispatchHandler {
  #resolve: (answer: UpstreamResponse) => void;
  #reject: (error: AppError) => void;
  #status = 0;
  #headers: Record<string, string | string[]> = {};
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(resolve: (answer: UpstreamResponse) => void, reject: (error: AppError) => void) {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  // Present even though empty: undici tells this handler interface from the legacy one by it.
  onRequestStart(): void {}

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // 1xx informational answers precede the real one.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#headers = answerHeaders(headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#length += chunk.length;
    if (this.#length > responseBytesMax) {
      controller.abort(new Error(`upstream answer exceeds ${responseBytesMax} bytes`));
      return;
    }
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    const chunks = this.#chunks;
    // Chunks are the socket's own reads, not reused by undici: one can be sent as is.
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#length);
    this.#resolve({ status: this.#status, headers: this.#headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#reject(upstreamError(error));
  }
}

function forwardedHeaders(request: ForwardRequest): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in request.headers) {
    const value = request.headers[name];
    if (value === undefined || requestHeadersDropped.has(name)) continue;
    headers[name] = value;
  }
  headers['x-request-id'] = request.requestId;
  headers['x-forwarded-for'] = request.clientIp;
  if (request.userUuid !== undefined) headers['x-user-uuid'] = request.userUuid;
  return headers;
}

function answerHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || responseHeadersDropped.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}

const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function upstreamError(error: unknown): AppError {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && timeoutCodes.has(code)) {
    return new AppError('UPSTREAM_TIMEOUT', 504, 'The service behind the gateway did not answer in time');
  }
  return new AppError('UPSTREAM_FAILED', 502, 'The service behind the gateway could not be reached');
}
