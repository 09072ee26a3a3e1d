import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@nuri/platform/errors';
import type { Logger } from '@nuri/platform/logger';
import { Pool } from 'undici';
import { type CircuitBreaker, createCircuitBreaker } from './circuit-breaker.ts';

export interface CoreClientOptions {
  /** For logs: core-user, core-payment. */
  name: string;
  baseUrl: string;
  /** NURI_INTERNAL_TOKEN. */
  internalToken: string;
  /** Per attempt: connect, headers and body together. */
  timeoutMs: number;
  /** Keep-alive sockets to this core service. */
  connectionsMax: number;
  logger: Logger;
  breakerFailuresMax?: number;
  breakerOpenMs?: number;
  retryBackoffMs?: number;
}

export interface CoreRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  requestId?: string;
  /**
   * Further attempts after a failure (timeout, refused, 5xx). Only for calls
   * whose repetition cannot double an effect: reads, and writes carrying an
   * idempotency key the core dedupes on.
   */
  retriesMax?: number;
}

export interface CoreResponse {
  status: number;
  body: unknown;
  /** The core answered from its record of an earlier request with the same idempotency key. */
  replayed: boolean;
}

export interface CoreClient {
  /** Resolves with any 2xx–4xx answer; throws 503 CORE_UNAVAILABLE when the core cannot be reached. */
  request(request: CoreRequest): Promise<CoreResponse>;
  readonly breaker: CircuitBreaker;
  close(): Promise<void>;
}

const responseBytesMax = 1_048_576;

class CoreFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CoreFailure';
  }
}

export function coreUnavailable(): AppError {
  return new AppError('CORE_UNAVAILABLE', 503, 'The core banking system cannot be reached; retry shortly');
}

export function createCoreClient(options: CoreClientOptions): CoreClient {
  const { timeoutMs, logger, name } = options;
  const retryBackoffMs = options.retryBackoffMs ?? 50;
  const pool = new Pool(options.baseUrl, {
    connections: options.connectionsMax,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const breaker = createCircuitBreaker({
    failuresMax: options.breakerFailuresMax ?? 5,
    openMs: options.breakerOpenMs ?? 2_000,
  });
  const authorization = `Bearer ${options.internalToken}`;

  async function attemptOnce(request: CoreRequest): Promise<CoreResponse> {
    const headers: Record<string, string> = { authorization, accept: 'application/json' };
    if (request.requestId !== undefined) headers['x-request-id'] = request.requestId;
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    const response = await pool.request({
      method: request.method,
      path: request.path,
      headers,
      body: request.body === undefined ? null : JSON.stringify(request.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.body.text();
    if (response.statusCode >= 500) throw new CoreFailure(`${name} answered ${response.statusCode}`);
    if (text.length > responseBytesMax) throw new CoreFailure(`${name} answered too large a body`);
    if (response.statusCode === 401) {
      // Our internal token is refused: a deployment error, not a client's.
      logger.error({ upstream: name }, 'core refused the internal token');
      throw new CoreFailure(`${name} refused the internal token`);
    }
    try {
      return {
        status: response.statusCode,
        body: text === '' ? undefined : JSON.parse(text),
        replayed: response.headers['idempotent-replayed'] === 'true',
      };
    } catch {
      throw new CoreFailure(`${name} answered a body that is not JSON`);
    }
  }

  return {
    breaker,
    async request(request) {
      const retriesMax = request.retriesMax ?? 0;
      for (let attempt = 0; ; attempt += 1) {
        if (!breaker.tryAcquire()) throw coreUnavailable();
        try {
          const response = await attemptOnce(request);
          breaker.recordSuccess();
          return response;
        } catch (error) {
          breaker.recordFailure();
          logger.warn(
            { upstream: name, path: request.path, attempt: attempt + 1, err: error },
            'core call failed',
          );
          if (attempt >= retriesMax) throw coreUnavailable();
          await sleep(retryBackoffMs * 2 ** attempt);
        }
      }
    },
    close: () => pool.close(),
  };
}

/** Turns a core 4xx problem+json into the same AppError for our client (codes pass through). */
export function problemFrom(response: CoreResponse): AppError {
  const body = response.body as { code?: unknown; detail?: unknown } | undefined;
  const code = typeof body?.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(body.code) ? body.code : undefined;
  if (code === undefined || response.status < 400 || response.status > 499) {
    return new AppError('CORE_UNAVAILABLE', 503, 'The core banking system gave an unexpected answer');
  }
  const detail = typeof body?.detail === 'string' ? body.detail : undefined;
  return new AppError(code, response.status, detail);
}
