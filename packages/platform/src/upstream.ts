import type { IncomingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher, Pool } from 'undici';
import { setErrorName } from './errors.ts';
import type { InstanceInfo } from './http.ts';
import type { Logger } from './logger.ts';
import { inSpan, insideTrace, SpanKind, traceparentOf, tracingEnabled } from './tracing.ts';

// One service behind several instances (docs/architecture.md "Running it"): a caller
// names the service once with a list of base URLs, and every request goes to
// a ready instance. Used by the gateway for the channel services, by
// channel-user for the core, by point for channel-user and by coupon for
// core-payment. In Kubernetes each list is one Service address and the
// balancing below degenerates to that address; locally the supervisor hands
// every caller the URL of each instance.
//
// Choice of instance: least outstanding requests, ties broken round robin.
// Instances differ from moment to moment (a GC pause, a cold JIT after a
// restart, a process stopped with SIGSTOP): round robin keeps handing a slow
// instance its 1/N share until it is ejected, while least-outstanding sends
// it nothing more once its requests pile up, and costs one pass over a list
// of at most ten instances.
//
// Taking instances out and back in:
// - a connection that cannot be made (refused, unreachable, connect timeout)
//   ejects the instance at once: nothing is listening there;
// - `ejectAfterFailures` consecutive failed attempts (timeouts, resets, and
//   answers the caller counts as failures) eject it for at least `ejectionMs`
//   — a circuit breaker per instance;
// - an active readiness probe (`GET /health/ready`, every `intervalMs`) ejects
//   an instance after `failuresMax` failed probes in a row, and is the only
//   way back in: a passing probe re-admits an ejected instance once its
//   ejection time is over. So a dead or hung instance costs live requests at
//   most a few attempts, and the half-open test of a breaker is a probe, never
//   a customer's request.
// When no instance is in, a request fails at once (`UpstreamUnavailableError`)
// rather than waiting on a timeout: callers turn that into their 503.
//
// Retries: a request that never reached an instance (the connection was
// refused, or the instance answered that it is draining) is sent to another
// one, always. One that may have reached it (a timeout, a reset after
// writing) is repeated only when the caller says repeating is safe
// (`retriesMax`): a read, or a write carrying an idempotency key that its
// owner dedupes on.

export interface UpstreamProbeOptions {
  /** Default `/health/ready`. */
  path?: string;
  /** 0 turns probing off (instances then come back only when their ejection ends). */
  intervalMs?: number;
  timeoutMs?: number;
  /** Consecutive failed probes that take a ready instance out. */
  failuresMax?: number;
}

export interface UpstreamOptions {
  /** The service, for logs and errors. */
  name: string;
  /** Base URLs (`http://host:port`), one per instance; at least one. */
  urls: readonly string[];
  /** Keep-alive connections per instance. */
  connectionsMax: number;
  /** Per attempt: from dispatch to the whole answer read. */
  attemptTimeoutMs: number;
  /** Establishing a connection; short, since a refused or unroutable instance should be skipped fast. */
  connectTimeoutMs?: number;
  /** Consecutive failed attempts that eject an instance. */
  ejectAfterFailures?: number;
  /** Shortest time an ejected instance stays out. */
  ejectionMs?: number;
  /** Default for `UpstreamRequest.deadlineMs`. */
  requestDeadlineMs?: number;
  /** An answer larger than this fails the attempt rather than being buffered. */
  responseBytesMax?: number;
  probe?: UpstreamProbeOptions;
  logger?: Logger;
  now?: () => number;
}

/**
 * The answers that say an instance cannot serve now: 502, 503, 504 (its
 * database or its own upstream is down, it is draining or overloaded). A 500
 * is not one: the instance is up and failed this one request, so counting it
 * would let one malformed request, repeated, eject healthy instances for
 * every other caller — and retrying it elsewhere would fail the same way.
 */
export function unavailableStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

export interface UpstreamRequest {
  method: string;
  /** Path and query. */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string | null;
  /**
   * Further attempts after one that may have reached an instance. Only for
   * requests whose repetition cannot double an effect. Attempts that never
   * reached an instance are always retried elsewhere and do not count.
   */
  retriesMax?: number;
  /** The whole call, every attempt included; default `requestDeadlineMs`, else one attempt's timeout per instance plus one. */
  deadlineMs?: number;
  /** Answers with these statuses count as failures of the instance (and are retried like a timeout); see unavailableStatus. */
  isFailureStatus?: (status: number) => boolean;
  /**
   * The attempt says nothing about the instance's health (an operator's slow
   * report timing out): its failures neither count towards nor cause an
   * ejection. A connection that cannot be made still ejects: nothing listens.
   */
  healthNeutral?: boolean;
}

export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /**
   * An earlier attempt of this call went out and got no answer (a timeout, a
   * reset), so what this answer reports may be that attempt's doing.
   */
  afterLostAttempt?: boolean;
}

export interface UpstreamInstanceState {
  url: string;
  ready: boolean;
  outstanding: number;
  /** Which process answered the last probe (its /health/ready `instance`), when it said. */
  process?: InstanceInfo;
}

export interface Upstream {
  readonly name: string;
  request(request: UpstreamRequest): Promise<UpstreamAnswer>;
  /** Every instance and whether it is in. */
  instances(): UpstreamInstanceState[];
  readyCount(): number;
  /** Resolves when every instance has been probed once (immediately when probing is off). */
  firstProbe(): Promise<void>;
  close(): Promise<void>;
}

/** Every instance is out, or every attempt failed: the caller answers 503. */
export type UpstreamFailureReason = 'unavailable' | 'timeout' | 'interrupted';

export class UpstreamUnavailableError extends Error {
  readonly upstream: string;
  /**
   * Whether the last attempt's request may have been carried out: `timeout`,
   * it went out and no answer came in time (the caller may say 504);
   * `interrupted`, it went out and the connection failed before an answer;
   * `unavailable`, no instance took it (none ready, the connection refused)
   * or the instance answered that it could not serve it.
   */
  readonly reason: UpstreamFailureReason;
  constructor(upstream: string, reason: UpstreamFailureReason, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    setErrorName(this, 'UpstreamUnavailableError');
    this.upstream = upstream;
    this.reason = reason;
  }
}

/** The instance answered more than `responseBytesMax`: not retried, since the answer is what is wrong. */
export class UpstreamAnswerTooLargeError extends Error {
  constructor(upstream: string, bytesMax: number) {
    super(`${upstream} answered more than ${bytesMax} bytes`);
    setErrorName(this, 'UpstreamAnswerTooLargeError');
  }
}

/**
 * The header a draining service adds to its 503 (http.ts): the request was
 * refused before any handler ran, so it is safe to send elsewhere.
 */
export const drainingHeader = 'nuri-draining';

/** Parses `NURI_*_URL` values: one URL or several, comma separated. */
export function parseUrlList(value: string): string[] {
  return value
    .split(',')
    .map((url) => url.trim().replace(/\/+$/, ''))
    .filter((url) => url !== '');
}

const notReachedCodes = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

interface Instance {
  url: string;
  pool: Pool;
  ready: boolean;
  /** Seen ready by a probe or an answer at least once: before that, being out is no news (it is starting). */
  seen: boolean;
  outstanding: number;
  failures: number;
  probeFailures: number;
  ejectedUntil: number;
  /** From the last probe that was answered; cleared when a probe gets no answer. */
  process: InstanceInfo | undefined;
}

type Outcome =
  | { kind: 'answer'; answer: UpstreamAnswer }
  | { kind: 'tooLarge'; bytesMax: number }
  | { kind: 'notReached'; error: unknown }
  /** `answered`: the instance answered a failure status (it served the request, saying it could not). */
  | { kind: 'failed'; error: unknown; timedOut: boolean; answered?: boolean };

// Every upstream of this process that is not closed: the metrics (metrics.ts)
// report each instance's circuit at every scrape.
const liveUpstreams = new Set<Upstream>();

/** The upstreams open in this process, for the metrics. */
export function openUpstreams(): Upstream[] {
  return [...liveUpstreams];
}

export function createUpstream(options: UpstreamOptions): Upstream {
  if (options.urls.length === 0) throw new Error(`upstream ${options.name} has no URL`);
  const now = options.now ?? Date.now;
  const { name, logger, attemptTimeoutMs } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.min(1_000, attemptTimeoutMs);
  const ejectAfterFailures = options.ejectAfterFailures ?? 3;
  const ejectionMs = options.ejectionMs ?? 2_000;
  const responseBytesMax = options.responseBytesMax ?? 4 * 1_048_576;
  const defaultDeadlineMs = options.requestDeadlineMs ?? attemptTimeoutMs * (options.urls.length + 1);
  const probePath = options.probe?.path ?? '/health/ready';
  const probeIntervalMs = options.probe?.intervalMs ?? 1_000;
  const probeTimeoutMs = options.probe?.timeoutMs ?? 1_000;
  const probeFailuresMax = options.probe?.failuresMax ?? 2;

  const instances: Instance[] = options.urls.map((url) => ({
    url,
    pool: new Pool(url, {
      connections: options.connectionsMax,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      connectTimeout: connectTimeoutMs,
      headersTimeout: attemptTimeoutMs,
      bodyTimeout: attemptTimeoutMs,
    }),
    ready: true,
    seen: false,
    outstanding: 0,
    failures: 0,
    probeFailures: 0,
    ejectedUntil: 0,
    process: undefined,
  }));
  let nextStart = 0;

  function eject(instance: Instance, reason: string, forMs: number): void {
    instance.ejectedUntil = Math.max(instance.ejectedUntil, now() + forMs);
    if (!instance.ready) return;
    instance.ready = false;
    if (instance.seen)
      logger?.warn({ upstream: name, instance: instance.url, reason }, 'upstream instance taken out');
  }

  function admit(instance: Instance): void {
    instance.failures = 0;
    const wasSeen = instance.seen;
    instance.seen = true;
    if (instance.ready) return;
    instance.ready = true;
    if (wasSeen) logger?.info({ upstream: name, instance: instance.url }, 'upstream instance back in');
  }

  /** The ready instance with the fewest requests in flight, skipping `tried`; ties go round robin. */
  function pick(tried: ReadonlySet<Instance> | undefined): Instance | undefined {
    const count = instances.length;
    const start = nextStart;
    nextStart = (nextStart + 1) % count;
    let best: Instance | undefined;
    for (let offset = 0; offset < count; offset += 1) {
      const candidate = instances[(start + offset) % count]!;
      if (!candidate.ready || tried?.has(candidate)) continue;
      if (best === undefined || candidate.outstanding < best.outstanding) best = candidate;
    }
    return best;
  }

  function attempt(instance: Instance, request: UpstreamRequest, timeoutMs: number): Promise<Outcome> {
    instance.outstanding += 1;
    return new Promise<Outcome>((resolve) => {
      const collector = new AnswerCollector(resolve, responseBytesMax);
      // Our own timer, not undici's headersTimeout: undici runs those on a
      // coarse clock (about half a second), and a caller's deadline is a promise.
      const timer = setTimeout(() => collector.timeOut(timeoutMs), timeoutMs);
      collector.onSettled = () => clearTimeout(timer);
      instance.pool.dispatch(
        {
          method: request.method as Dispatcher.HttpMethod,
          path: request.path,
          headers: request.headers ?? {},
          body: request.body ?? null,
        },
        collector,
      );
    }).finally(() => {
      instance.outstanding -= 1;
    });
  }

  function judge(instance: Instance, outcome: Outcome, request: UpstreamRequest): Outcome {
    if (outcome.kind === 'tooLarge') return outcome;
    if (outcome.kind === 'notReached') {
      eject(instance, describe(outcome.error), Math.min(ejectionMs, 1_000));
      return outcome;
    }
    if (outcome.kind === 'answer') {
      const { status, headers } = outcome.answer;
      if (status === 503 && headers[drainingHeader] !== undefined) {
        eject(instance, 'draining', ejectionMs);
        return { kind: 'notReached', error: new Error(`${instance.url} is draining`) };
      }
      if (request.isFailureStatus?.(status) !== true) {
        instance.failures = 0;
        instance.seen = true;
        return outcome;
      }
      outcome = {
        kind: 'failed',
        error: new Error(`${instance.url} answered ${status}`),
        timedOut: false,
        answered: true,
      };
    }
    if (request.healthNeutral === true) return outcome;
    instance.failures += 1;
    if (instance.failures >= ejectAfterFailures) {
      eject(instance, `${instance.failures} failed attempts in a row`, ejectionMs);
    }
    return outcome;
  }

  // With tracing on, a call made inside a trace is a client span, and the
  // instance answering gets its traceparent: the callee's spans join the trace.
  const traced = tracingEnabled();
  function request(request: UpstreamRequest): Promise<UpstreamAnswer> {
    if (!traced || !insideTrace()) return send(request);
    return inSpan(
      `${request.method} ${name}`,
      { kind: SpanKind.CLIENT, attributes: { 'http.request.method': request.method, 'nuri.upstream': name } },
      async (span) => {
        const traceparent = traceparentOf(span);
        const answer = await send(
          traceparent === undefined ? request : { ...request, headers: { ...request.headers, traceparent } },
        );
        span.setAttribute('http.response.status_code', answer.status);
        return answer;
      },
    );
  }

  async function send(request: UpstreamRequest): Promise<UpstreamAnswer> {
    const retriesMax = request.retriesMax ?? 0;
    const deadline = now() + (request.deadlineMs ?? defaultDeadlineMs);
    let tried: Set<Instance> | undefined;
    let retries = 0;
    let lostAttempt = false;
    let last: Outcome | undefined;
    for (;;) {
      const remainingMs = deadline - now();
      // A repeat may go back to an instance already tried when it is the only one in.
      const instance =
        remainingMs <= 0
          ? undefined
          : (pick(tried) ?? (last?.kind === 'failed' ? pick(undefined) : undefined));
      if (instance === undefined) throw unavailable(last);
      const timeoutMs = Math.min(attemptTimeoutMs, remainingMs);
      const outcome = judge(instance, await attempt(instance, request, timeoutMs), request);
      if (outcome.kind === 'answer')
        return lostAttempt ? { ...outcome.answer, afterLostAttempt: true } : outcome.answer;
      if (outcome.kind === 'tooLarge') throw new UpstreamAnswerTooLargeError(name, outcome.bytesMax);
      last = outcome;
      tried ??= new Set();
      tried.add(instance);
      if (outcome.kind === 'failed') {
        if (retries >= retriesMax) throw unavailable(outcome);
        retries += 1;
        // An instance that answered a failure status did not carry the request out.
        if (outcome.answered !== true) lostAttempt = true;
      }
    }
  }

  function unavailable(last: Outcome | undefined): UpstreamUnavailableError {
    if (last === undefined) {
      return new UpstreamUnavailableError(name, 'unavailable', `no instance of ${name} is ready`);
    }
    const error = last.kind === 'failed' || last.kind === 'notReached' ? last.error : undefined;
    const reason: UpstreamFailureReason =
      last.kind !== 'failed' || last.answered === true
        ? 'unavailable'
        : last.timedOut
          ? 'timeout'
          : 'interrupted';
    return new UpstreamUnavailableError(
      name,
      reason,
      `${name} could not be reached: ${describe(error)}`,
      error,
    );
  }

  // Probes use their own connections, so a pool saturated by traffic does not
  // make a healthy instance look dead.
  const probeAgent = new Agent({
    connections: 1,
    connectTimeout: Math.min(connectTimeoutMs, probeTimeoutMs),
    headersTimeout: probeTimeoutMs,
    bodyTimeout: probeTimeoutMs,
    keepAliveTimeout: Math.max(probeIntervalMs * 3, 4_000),
  });

  async function probe(instance: Instance): Promise<void> {
    let ok = false;
    let refused = false;
    try {
      const response = await probeAgent.request({
        origin: instance.url,
        path: probePath,
        method: 'GET',
        headersTimeout: probeTimeoutMs,
        bodyTimeout: probeTimeoutMs,
      });
      instance.process = processOf(await readSmallBody(response.body));
      ok = response.statusCode === 200;
    } catch (error) {
      const code = errorCode(error);
      refused = code !== undefined && notReachedCodes.has(code);
      instance.process = undefined;
    }
    if (ok) {
      instance.probeFailures = 0;
      if (instance.ready) instance.seen = true;
      else if (now() >= instance.ejectedUntil) admit(instance);
      return;
    }
    instance.probeFailures += 1;
    // Nothing listening is certain at once; a slow or failing answer gets a second chance.
    if (refused || instance.probeFailures >= probeFailuresMax) {
      eject(instance, refused ? 'nothing listens (probe refused)' : 'readiness probe failed', 0);
    }
  }

  let probing: Promise<void> | undefined;
  let closed = false;
  const probeAll = (): Promise<void> => {
    probing ??= Promise.all(instances.map(probe))
      .then(() => undefined)
      .finally(() => {
        probing = undefined;
      });
    return probing;
  };
  const first = probeIntervalMs > 0 ? probeAll() : Promise.resolve();
  const timer = probeIntervalMs > 0 ? setInterval(() => void probeAll(), probeIntervalMs) : undefined;
  timer?.unref();

  const upstream: Upstream = {
    name,
    request,
    instances: () =>
      instances.map((instance) => ({
        url: instance.url,
        ready: instance.ready,
        outstanding: instance.outstanding,
        ...(instance.process === undefined ? {} : { process: instance.process }),
      })),
    readyCount: () => instances.filter((instance) => instance.ready).length,
    firstProbe: () => first,
    async close() {
      if (closed) return;
      closed = true;
      liveUpstreams.delete(upstream);
      clearInterval(timer);
      await probing;
      await Promise.all([...instances.map((instance) => instance.pool.close()), probeAgent.close()]);
    },
  };
  liveUpstreams.add(upstream);
  return upstream;
}

/** A readiness answer is a few hundred bytes; more is not read (nor believed). */
const probeBodyBytesMax = 4_096;

async function readSmallBody(body: AsyncIterable<Buffer> & { dump(): Promise<void> }): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += chunk.length;
    if (length > probeBodyBytesMax) {
      await body.dump();
      return '';
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

/** The `instance` of a readiness answer (http.ts), when it is one; anything else is ignored. */
export function processOf(text: string): InstanceInfo | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const instance = (parsed as { instance?: unknown } | null)?.instance as Record<string, unknown> | undefined;
  if (typeof instance !== 'object' || instance === null) return undefined;
  const { pid, startedAt, restarts } = instance;
  if (!Number.isSafeInteger(pid) || (pid as number) < 1) return undefined;
  if (typeof startedAt !== 'string' || Number.isNaN(Date.parse(startedAt))) return undefined;
  const counted = Number.isSafeInteger(restarts) && (restarts as number) >= 0;
  return {
    pid: pid as number,
    startedAt: new Date(startedAt).toISOString(),
    ...(counted ? { restarts: restarts as number } : {}),
  };
}

function describe(error: unknown): string {
  if (error === undefined) return 'no answer';
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' ? `${code} ${message}` : message;
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  return typeof causeCode === 'string' ? causeCode : undefined;
}

/** Collects one answer into a Buffer and turns every failure into an outcome (never throws). */
class AnswerCollector implements Dispatcher.DispatchHandler {
  onSettled: (() => void) | undefined;
  #resolve: (outcome: Outcome) => void;
  #bytesMax: number;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #chunks: Buffer[] = [];
  #length = 0;
  #started = false;
  #tooLarge = false;
  #timedOutAfterMs: number | undefined;
  #settled = false;

  constructor(resolve: (outcome: Outcome) => void, bytesMax: number) {
    this.#resolve = resolve;
    this.#bytesMax = bytesMax;
  }

  /** The attempt's time is up: abort it (or, still queued for a connection, abandon it). */
  timeOut(afterMs: number): void {
    if (this.#settled) return;
    this.#timedOutAfterMs = afterMs;
    const error = Object.assign(new Error(`no answer within ${afterMs} ms`), {
      code: 'NURI_ATTEMPT_TIMEOUT',
    });
    if (this.#controller === undefined) {
      // Not written yet: onRequestStart aborts it when a connection frees up.
      this.#settle({ kind: 'failed', error, timedOut: true });
      return;
    }
    this.#controller.abort(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#timedOutAfterMs !== undefined)
      controller.abort(new Error('attempt abandoned after its timeout'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // 1xx informational answers precede the real one.
    if (statusCode < 200) return;
    this.#started = true;
    this.#status = statusCode;
    this.#headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#length += chunk.length;
    if (this.#length > this.#bytesMax) {
      this.#tooLarge = true;
      controller.abort(new Error(`answer exceeds ${this.#bytesMax} bytes`));
      return;
    }
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    const chunks = this.#chunks;
    // Chunks are the socket's own reads, not reused by undici: one can be passed on as is.
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#length);
    this.#settle({ kind: 'answer', answer: { status: this.#status, headers: this.#headers, body } });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#tooLarge) {
      this.#settle({ kind: 'tooLarge', bytesMax: this.#bytesMax });
      return;
    }
    const code = errorCode(error);
    if (this.#timedOutAfterMs !== undefined || (code !== undefined && timeoutCodes.has(code))) {
      this.#settle({ kind: 'failed', error, timedOut: true });
      return;
    }
    if (!this.#started && code !== undefined && notReachedCodes.has(code)) {
      this.#settle({ kind: 'notReached', error });
      return;
    }
    this.#settle({ kind: 'failed', error, timedOut: false });
  }

  #settle(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.onSettled?.();
    this.#resolve(outcome);
  }
}
