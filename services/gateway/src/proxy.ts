import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '@nuri/platform/errors';
import {
  type Upstream,
  UpstreamAnswerTooLargeError,
  UpstreamUnavailableError,
} from '@nuri/platform/upstream';
import type { ChannelServiceName } from './config.ts';

export interface ForwardRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  requestId: string;
  clientIp: string;
  /** `http` or `https` as the client reached the gateway (a trusted TLS terminator's word included). */
  protocol: 'http' | 'https';
  /** The verified token's subject; absent on anonymous routes. */
  userUuid: string | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface UpstreamProxy {
  forward(upstream: ChannelServiceName, request: ForwardRequest): Promise<UpstreamResponse>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself. A
// client's x-user-uuid is dropped: only the verified token names the user. A
// client's trace context too: the gateway starts the trace (its own span's
// traceparent is sent on when tracing is on).
const requestHeadersDropped = new Set([
  'traceparent',
  'tracestate',
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
  'x-forwarded-proto',
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

/**
 * Forwards to a ready instance of the owning channel service (upstream.ts
 * balances and retries). A request that may have reached an instance that
 * then failed is repeated on another only when repeating is safe: a GET or
 * HEAD, or a POST with an Idempotency-Key, which the service dedupes on.
 */
export function createProxy(upstreams: Readonly<Record<ChannelServiceName, Upstream>>): UpstreamProxy {
  return {
    async forward(name, request) {
      let answer: Awaited<ReturnType<Upstream['request']>>;
      try {
        answer = await upstreams[name].request({
          method: request.method,
          path: request.url,
          headers: forwardedHeaders(request),
          body: request.body ?? null,
          retriesMax: isSafeToRepeat(request) ? 1 : 0,
        });
      } catch (error) {
        throw upstreamError(error);
      }
      return { status: answer.status, headers: answerHeaders(answer.headers), body: answer.body };
    },
  };
}

function isSafeToRepeat(request: ForwardRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  return request.method === 'POST' && request.headers['idempotency-key'] !== undefined;
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
  // channel-user marks its session cookie Secure when the client used HTTPS.
  headers['x-forwarded-proto'] = request.protocol;
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

function upstreamError(error: unknown): AppError {
  if (error instanceof UpstreamUnavailableError && error.reason === 'timeout') {
    return new AppError('UPSTREAM_TIMEOUT', 504, 'The service behind the gateway did not answer in time');
  }
  if (error instanceof UpstreamAnswerTooLargeError) {
    return new AppError(
      'UPSTREAM_FAILED',
      502,
      'The service behind the gateway gave an answer too large to pass on',
    );
  }
  return new AppError(
    'UPSTREAM_UNAVAILABLE',
    503,
    'The service behind the gateway is unavailable; retry shortly',
    {},
  );
}
