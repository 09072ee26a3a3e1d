import { AppError } from '@nuri/platform/errors';
import type { Logger } from '@nuri/platform/logger';
import {
  createUpstream,
  type Upstream,
  UpstreamAnswerTooLargeError,
  type UpstreamFailureReason,
  type UpstreamInstanceState,
  UpstreamUnavailableError,
  unavailableStatus,
} from '@nuri/platform/upstream';

export interface CoreClientOptions {
  /** For logs: core-user, core-payment. */
  name: string;
  /** The core service's instances (one URL where a Service balances them). */
  urls: readonly string[];
  /** NURI_INTERNAL_TOKEN. */
  internalToken: string;
  /** Per attempt: connect, headers and body together. */
  timeoutMs: number;
  /** The whole call, retries included: how long a customer waits before 503 CORE_UNAVAILABLE. */
  deadlineMs: number;
  /** Keep-alive sockets per core instance. */
  connectionsMax: number;
  logger: Logger;
  /** Consecutive failures that take an instance out (its circuit opens). */
  breakerFailuresMax?: number;
  /** Shortest time an instance stays out before a passing readiness probe lets it back. */
  breakerOpenMs?: number;
  /** How often each instance's readiness is probed; 0: never (it returns when its open time ends). */
  probeIntervalMs?: number;
}

export interface CoreRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  requestId?: string;
  /**
   * Further attempts after one that may have reached the core (timeout,
   * reset, 5xx). Only for calls whose repetition cannot double an effect:
   * reads, and writes carrying an idempotency key the core dedupes on. A call
   * that never reached an instance goes to another one regardless.
   */
  retriesMax?: number;
}

export interface CoreResponse {
  status: number;
  body: unknown;
  /** The core answered from its record of an earlier request with the same idempotency key. */
  replayed: boolean;
  /** An earlier attempt of this call went out and got no answer (upstream.ts): a replay may be of it. */
  afterLostAttempt: boolean;
}

export interface CoreClient {
  /** Resolves with any 2xx–4xx answer; throws 503 CORE_UNAVAILABLE when the core cannot be reached. */
  request(request: CoreRequest): Promise<CoreResponse>;
  /** Instances of the core service now in rotation; 0 means every circuit is open and calls fail fast. */
  readyInstances(): number;
  /** Every instance, whether it is in rotation and which process its last probe saw (for the gateway's view of the core). */
  instances(): UpstreamInstanceState[];
  close(): Promise<void>;
}

const responseBytesMax = 1_048_576;

/**
 * When the request went out and no answer came (`timeout`: a hung or
 * overloaded core; `interrupted`: the connection failed), what it asked for
 * may still be done when the core wakes, and the detail says so: the same
 * request retried with its Idempotency-Key answers the outcome. Otherwise
 * nothing reached the core.
 */
export function coreUnavailable(reason: UpstreamFailureReason = 'unavailable'): AppError {
  return new AppError(
    'CORE_UNAVAILABLE',
    503,
    reason === 'unavailable'
      ? 'The core banking system cannot be reached; retry shortly'
      : 'The core banking system did not answer, so whether this was done is not known yet; retry with the same Idempotency-Key to learn the outcome',
  );
}

/**
 * The channel's client of one core service, balanced over its instances
 * (platform upstream.ts). Each instance has its own circuit: it opens after
 * `breakerFailuresMax` failures in a row (or at once when nothing listens),
 * and closes when a readiness probe passes. While every circuit is open a
 * call fails fast with 503 CORE_UNAVAILABLE, and whatever happens a call
 * ends within `deadlineMs`: the channel zone answers in about a second
 * whether the core is up, dead or paused.
 */
export function createCoreClient(options: CoreClientOptions): CoreClient {
  const { logger, name } = options;
  const upstream: Upstream = createUpstream({
    name,
    urls: options.urls,
    connectionsMax: options.connectionsMax,
    attemptTimeoutMs: options.timeoutMs,
    requestDeadlineMs: options.deadlineMs,
    responseBytesMax,
    ejectAfterFailures: options.breakerFailuresMax ?? 3,
    ejectionMs: options.breakerOpenMs ?? 2_000,
    probe: { intervalMs: options.probeIntervalMs ?? 1_000, timeoutMs: Math.min(options.timeoutMs, 1_000) },
    logger,
  });
  const authorization = `Bearer ${options.internalToken}`;

  return {
    async request(request) {
      const headers: Record<string, string> = { authorization, accept: 'application/json' };
      if (request.requestId !== undefined) headers['x-request-id'] = request.requestId;
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      let answer: Awaited<ReturnType<Upstream['request']>>;
      try {
        answer = await upstream.request({
          method: request.method,
          path: request.path,
          headers,
          body: request.body === undefined ? null : JSON.stringify(request.body),
          retriesMax: request.retriesMax ?? 0,
          isFailureStatus: unavailableStatus,
        });
      } catch (error) {
        logger.warn({ upstream: name, path: request.path, err: error }, 'core call failed');
        if (error instanceof UpstreamUnavailableError) throw coreUnavailable(error.reason);
        if (error instanceof UpstreamAnswerTooLargeError) throw coreUnavailable();
        throw error;
      }
      if (answer.status === 401) {
        // Our internal token is refused: a deployment error, not a client's.
        logger.error({ upstream: name }, 'core refused the internal token');
        throw coreUnavailable();
      }
      const text = answer.body.toString('utf8');
      try {
        return {
          status: answer.status,
          body: text === '' ? undefined : JSON.parse(text),
          replayed: answer.headers['idempotent-replayed'] === 'true',
          afterLostAttempt: answer.afterLostAttempt === true,
        };
      } catch {
        logger.warn({ upstream: name, path: request.path }, 'core answered a body that is not JSON');
        throw coreUnavailable();
      }
    },
    readyInstances: () => upstream.readyCount(),
    instances: () => upstream.instances(),
    close: () => upstream.close(),
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
