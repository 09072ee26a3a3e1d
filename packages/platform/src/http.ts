import { createServer, type Server, STATUS_CODES } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
  type FastifySchemaValidationError,
  LogController,
} from 'fastify';
import { Gauge } from 'prom-client';
import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { coerceStringProperties, hasConvertibleProperties } from './coerce.ts';
import { AppError } from './errors.ts';
import { uuidv7 } from './ids.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import {
  type Context,
  contextOfHeaders,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  startSpan,
  stopTracing,
  tracingEnabled,
  withSpanActive,
} from './tracing.ts';
import { isTransientInfrastructureError } from './transient.ts';
import { drainingHeader } from './upstream.ts';

export type ReadinessCheck = () => Promise<void>;

/**
 * The longest path parameter the router passes on. An id's schema bounds it
 * at this, no tighter: a longer or malformed id is answered 404 like a missing
 * one (the router past this length, the use case below it), never 400.
 */
export const pathParamLengthMax = 100;

export type HttpAppOptions = {
  /** The service's name. Not used for wiring: the logger and metrics passed in already carry it. */
  name: string;
  logger: Logger;
  metrics: Metrics;
  /** Each check throws (or rejects) while its dependency is not ready; any failure makes the instance not ready. */
  readinessChecks?: Record<string, ReadinessCheck>;
  /**
   * Dependencies whose loss degrades the service without making it useless
   * (Kafka for a service that keeps accepting work into its outbox): shown in
   * /health/ready, never the reason an instance is taken out of rotation.
   */
  reportedChecks?: Record<string, ReadinessCheck>;
  readinessCheckTimeoutMs?: number;
  /**
   * One readiness result serves every probe for this long: the gateways, the
   * internal clients and the supervisor all probe each instance, and each
   * check is a round trip to a database or the broker.
   */
  readinessCacheMs?: number;
  /** docs/api.md: bodies over 64 KiB → 413. */
  bodyLimitBytes?: number;
  /** Time allowed to receive a whole request (slow-loris guard). */
  requestTimeoutMs?: number;
  /** Longer than a load balancer's idle timeout (60 s is common) so it, not we, closes idle sockets. */
  keepAliveTimeoutMs?: number;
  /** An inactive socket is destroyed after this long. */
  connectionTimeoutMs?: number;
  /** Path parameters longer than this are answered 404 by the router (default pathParamLengthMax). */
  paramLengthMax?: number;
  /**
   * Proxies in front of this app whose X-Forwarded-For / -Proto are believed
   * (their number, counted from this app outward): request.ip is then the
   * client's address, not the last proxy's. 0: none (the socket's address).
   */
  trustedProxyHops?: number;
  /**
   * With tracing on, whether a request's own `traceparent` header parents its
   * span (an internal caller continuing its trace). The gateway says false:
   * a public client does not get to choose the trace it joins.
   */
  traceparentFromClient?: boolean;
};

const problemContentType = 'application/problem+json; charset=utf-8';
const requestIdHeader = 'x-request-id';
const clientRequestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** The body of every error answer (RFC 9457); AppError extra fields are added beside these. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.String(),
    traceId: Type.String(),
  },
  { additionalProperties: true },
);

/** Which process answered: the gateway's probes read it for the operator console (GET /api/v1/admin/services). */
export const InstanceInfoSchema = Type.Object({
  pid: Type.Integer({ minimum: 1 }),
  startedAt: Type.String({ format: 'date-time' }),
  /** Restarts of this instance before this process (the supervisor's NURI_INSTANCE_RESTARTS); absent when unknown. */
  restarts: Type.Optional(Type.Integer({ minimum: 0 })),
});

export type InstanceInfo = Static<typeof InstanceInfoSchema>;

const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('fail')]))),
  instance: Type.Optional(InstanceInfoSchema),
});

// When this process started, by the wall clock (uptime is monotonic, so this is the real start).
const processStartedAt = new Date(Date.now() - process.uptime() * 1_000).toISOString();

/** This process as /health/ready describes it. */
export function thisInstance(restarts: number | undefined): InstanceInfo {
  return { pid: process.pid, startedAt: processStartedAt, ...(restarts === undefined ? {} : { restarts }) };
}

export type HttpApp = ReturnType<typeof createHttpApp>;

/**
 * Each instance's probes and scrape (a gateway serves them on its ops port
 * only). Answered even while draining: probes and scrapes must see the shutdown.
 */
export const operationalRoutes: ReadonlySet<string> = new Set(['/health/live', '/health/ready', '/metrics']);

// Set by runServer when shutdown begins, so /health/ready answers 503 while
// in-flight requests drain. Kept outside the instance to avoid augmenting
// Fastify's types.
const drainingApps = new WeakSet<object>();
// Set by runServer from the service's config (NURI_INSTANCE_RESTARTS), shown by /health/ready.
const restartsOfApps = new WeakMap<object, number>();

/** The problem code each problem answer carried (sendProblem), for its access line. */
const problemCodes = new WeakMap<FastifyReply, string>();

/**
 * One access line per request, written when it is answered: the request
 * (method, URL, host, peer) and its answer (status, time) together, as
 * `request completed` (or `request errored`). Fastify's default writes a
 * second line, `incoming request`, as each arrives; at the default level
 * (info) that line cost as much as the one kept, and the two together about
 * as much CPU again as the request itself (docs/performance-log.md, the
 * access log). A request its client gives up on before the answer (or
 * whose body never comes: boundBodyTime) gets a `request aborted` line
 * instead (the onRequestAbort hook below). An answer that is a problem
 * carries its `code` on the same line.
 */
class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    if (error) {
      reply.log.error(
        { req: request, res: reply, err: error, responseTime: reply.elapsedTime },
        'request errored',
      );
    } else {
      const code = problemCodes.get(reply);
      reply.log.info(
        code === undefined
          ? { req: request, res: reply, responseTime: reply.elapsedTime }
          : { req: request, res: reply, code, responseTime: reply.elapsedTime },
        'request completed',
      );
    }
  }
}

/** A Fastify instance with request ids, problem+json errors, health and metrics routes. It never listens. */
export function createHttpApp(options: HttpAppOptions) {
  const {
    logger,
    metrics,
    readinessChecks = {},
    reportedChecks = {},
    readinessCheckTimeoutMs = 1_000,
    readinessCacheMs = 1_000,
    bodyLimitBytes = 65_536,
    requestTimeoutMs = 30_000,
    keepAliveTimeoutMs = 72_000,
    connectionTimeoutMs = 60_000,
    paramLengthMax = pathParamLengthMax,
    trustedProxyHops = 0,
  } = options;
  const app = Fastify({
    loggerInstance: logger,
    logController: new AccessLog(),
    bodyLimit: bodyLimitBytes,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    connectionTimeout: connectionTimeoutMs,
    routerOptions: { maxParamLength: paramLengthMax },
    requestIdHeader: false,
    // Log lines carry the id as `reqId` (Fastify's default label).
    genReqId: chooseRequestId,
    // Fastify's own closing answer is not problem+json; the drain guard
    // below answers instead.
    return503OnClosing: false,
    // The first N hops from this app outward are trusted (proxy-addr counts hops from 0).
    trustProxy: (_address: string, hop: number) => hop < trustedProxyHops,
    // What the router refuses before any route or hook runs answers problem+json too,
    // without echoing the path: a path that is not a URL is the client's error; a path
    // segment too long for any id is answered like a missing one (docs/api.md).
    frameworkErrors: (error, request, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      if (error.code === 'FST_ERR_BAD_URL') {
        sendProblem(request, reply, 400, 'VALIDATION_FAILED', 'The path is not a valid URL');
      } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        sendProblem(
          request,
          reply,
          404,
          'NOT_FOUND',
          `No such resource (a path segment over ${paramLengthMax} characters)`,
        );
      } else {
        request.log.error({ err: error }, 'the router failed a request');
        sendProblem(request, reply, 500, 'INTERNAL_ERROR', 'Unexpected error');
      }
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(compileTypeBoxValidator);
  // The hooks below run on every request of every service: they take
  // Fastify's callback form, which costs no promise per hook.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(requestIdHeader, request.id);
    // Every answer is JSON or problem+json: never let a browser guess otherwise.
    reply.header('x-content-type-options', 'nosniff');
    if (drainingApps.has(app) && !operationalRoutes.has(request.routeOptions.url ?? '')) {
      // Refused before any handler ran: a balancing caller may send it to another instance.
      reply.header(drainingHeader, '1');
      done(new AppError('SERVICE_UNAVAILABLE', 503, 'The service is shutting down; retry the request'));
      return;
    }
    done();
  });
  // Keep-alive sockets would otherwise hold app.close() open after their
  // in-flight response; telling the client to close lets the drain finish.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (drainingApps.has(app)) reply.header('connection', 'close');
    done(null, payload);
  });
  // A request its client gave up on (or whose body never came: boundBodyTime)
  // is never answered: it gets its access line here instead.
  app.addHook('onRequestAbort', (request, done) => {
    request.log.info({ req: request }, 'request aborted');
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    metrics.httpRequestDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1_000,
    );
    done();
  });
  boundBodyTime(app, requestTimeoutMs);
  if (tracingEnabled()) traceRequests(app, options.traceparentFromClient ?? true);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: bodyLimitBytes },
    parseJsonBody,
  );
  app.setErrorHandler((error, request, reply) => handleError(error, request, reply, bodyLimitBytes));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    sendProblem(request, reply, 404, 'NOT_FOUND', `No route for ${request.method} ${path}`);
  });
  const readiness = cachedReadiness(
    readinessChecks,
    reportedChecks,
    readinessCheckTimeoutMs,
    readinessCacheMs,
    logger,
  );
  registerHealthRoutes(app, readiness);
  registerReadinessMetric(app, metrics, readiness);
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return app;
}

const requestSpans = new WeakMap<FastifyRequest, { span: Span; parent: Context }>();

/**
 * A server span per request (probes and scrapes aside), named by method and
 * route template, made active from the preHandler hook (after the body is
 * read) so everything the handler does — database statements, calls to
 * other services, events it makes — is inside it. The request's log lines
 * carry its trace id. Installed only when tracing is on.
 */
function traceRequests(app: HttpApp, traceparentFromClient: boolean): void {
  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    if (operationalRoutes.has(route)) {
      done();
      return;
    }
    const parent = traceparentFromClient ? contextOfHeaders(request.headers) : ROOT_CONTEXT;
    const span = startSpan(`${request.method} ${route}`, {
      kind: SpanKind.SERVER,
      parent,
      attributes: { 'http.request.method': request.method, 'http.route': route },
    });
    requestSpans.set(request, { span, parent });
    const { traceId, spanId } = span.spanContext();
    request.log = request.log.child({ traceId, spanId });
    reply.log = request.log;
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => {
    const entry = requestSpans.get(request);
    if (entry === undefined) done();
    else withSpanActive(entry.span, done, entry.parent);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const entry = requestSpans.get(request);
    if (entry !== undefined) {
      entry.span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR });
      entry.span.end();
    }
    done();
  });
}

/**
 * Gives an encapsulated scope the strict JSON body parser of createHttpApp
 * back, for routes under a parent that replaced its parsers (the gateway
 * forwards bodies as raw bytes, but answers its own admin routes itself).
 */
export function acceptJsonBodies(
  scope: Pick<FastifyInstance, 'removeAllContentTypeParsers' | 'addContentTypeParser'>,
  bodyLimitBytes = 65_536,
): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: bodyLimitBytes },
    parseJsonBody,
  );
}

// Every number in this API is an integer (won, points, quantities, limits).
// JSON.parse turns `1.0` and `1e2` into integers before any schema sees them,
// so a client sending a float would pass as if it had sent an integer: the
// parser looks at each number's source text and refuses a fraction or an
// exponent. Money is never rounded by us.
const nonIntegerLiteral = /[.eE]/;

function parseJsonBody(
  _request: FastifyRequest,
  body: string | Buffer,
  done: (error: Error | null, value?: unknown) => void,
): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    done(
      Object.assign(new Error('empty JSON body'), { code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }),
    );
    return;
  }
  let nonInteger = false;
  let prototypeKey = false;
  let illFormed = false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (key, value: unknown, context?: { source?: string }) => {
      if (typeof value === 'number' && nonIntegerLiteral.test(context?.source ?? '')) nonInteger = true;
      // A lone surrogate (`"\ud800"`) is valid JSON but no text: the databases store it as U+FFFD,
      // so a retry with the same key would no longer match its stored request (422 after a success).
      // NUL is text PostgreSQL cannot store at all (an insert fails: a 500, not the client's 400).
      if (typeof value === 'string' && (!value.isWellFormed() || value.includes('\u0000'))) illFormed = true;
      if (!key.isWellFormed() || key.includes('\u0000')) illFormed = true;
      // The same guard as Fastify's own parser: no key that could reach a prototype later.
      if (key === '__proto__' || key === 'constructor') prototypeKey = true;
      return value;
    });
  } catch {
    done(
      Object.assign(new Error('invalid JSON body'), {
        code: 'FST_ERR_CTP_INVALID_JSON_BODY',
        statusCode: 400,
      }),
    );
    return;
  }
  if (prototypeKey) {
    done(new AppError('VALIDATION_FAILED', 400, 'The body must not use the keys __proto__ or constructor'));
    return;
  }
  if (illFormed) {
    done(
      new AppError(
        'VALIDATION_FAILED',
        400,
        'Strings must be valid Unicode text (no lone surrogates, no NUL)',
      ),
    );
    return;
  }
  if (nonInteger) {
    done(
      new AppError(
        'VALIDATION_FAILED',
        400,
        'Numbers must be integers, without a decimal point or an exponent',
      ),
    );
    return;
  }
  done(null, parsed);
}

function chooseRequestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const fromClient = request.headers[requestIdHeader];
  if (typeof fromClient === 'string' && clientRequestIdPattern.test(fromClient)) return fromClient;
  return uuidv7();
}

// Bodies are validated as sent: a string where a number belongs is a client
// error, never coerced. Query strings, params and headers are all strings on
// the wire and are converted strictly (see coerce.ts) before validation.
// Runs for the params, query and headers of every request: what a schema
// cannot need (a conversion when every property is a string, defaults when
// it declares none) is decided once here, not looked for per request.
const compileTypeBoxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const validator = Compile(schema);
  const converts = httpPart !== 'body' && hasConvertibleProperties(schema as object);
  const defaults = declaresDefault(schema);
  return (value: unknown) => {
    const converted = converts && isRecord(value) ? coerceStringProperties(schema as object, value) : value;
    const candidate = defaults ? Value.Default(schema, converted) : converted;
    if (validator.Check(candidate)) return { value: candidate };
    return { error: validator.Errors(candidate) as FastifySchemaValidationError[] };
  };
};

/** Whether the schema declares a default anywhere (a property named `default` counts too: harmless). */
function declaresDefault(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  return Object.hasOwn(schema, 'default') || Object.values(schema).some(declaresDefault);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type ReadinessResult = { ready: boolean; checks: Record<string, 'ok' | 'fail'> };

function registerHealthRoutes(app: HttpApp, readiness: () => Promise<ReadinessResult>): void {
  const response = { 200: HealthSchema, 503: HealthSchema };
  // Probed every second by every balancer and the supervisor: a line per probe would drown the log.
  const quiet = { logLevel: 'warn' as const };
  app.get('/health/live', { ...quiet, schema: { response } }, async () => ({ status: 'ok' as const }));
  app.get('/health/ready', { ...quiet, schema: { response } }, async (_request, reply) => {
    const instance = thisInstance(restartsOfApps.get(app));
    if (drainingApps.has(app)) {
      return reply.code(503).send({ status: 'unavailable', checks: { shutdown: 'fail' }, instance });
    }
    const { ready, checks } = await readiness();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks, instance });
  });
}

/**
 * `nuri_instance_ready`: what /health/ready would answer now (1 ready, 0 not
 * or draining), read at scrape time through the same cache as the probes.
 * An instance that cannot be scraped at all is Prometheus' `up == 0`.
 */
function registerReadinessMetric(
  app: HttpApp,
  metrics: Metrics,
  readiness: () => Promise<ReadinessResult>,
): void {
  if (metrics.registry.getSingleMetric('nuri_instance_ready') !== undefined) return;
  new Gauge({
    name: 'nuri_instance_ready',
    help: 'Whether this instance answers /health/ready with 200 (1) or not (0)',
    registers: [metrics.registry],
    async collect() {
      this.set(drainingApps.has(app) ? 0 : (await readiness()).ready ? 1 : 0);
    },
  });
}

/** Runs the checks at most once per `cacheMs`; concurrent probes share the run in progress. */
function cachedReadiness(
  gating: Record<string, ReadinessCheck>,
  reported: Record<string, ReadinessCheck>,
  timeoutMs: number,
  cacheMs: number,
  logger: Logger,
): () => Promise<ReadinessResult> {
  let last: { at: number; result: ReadinessResult } | undefined;
  let running: Promise<ReadinessResult> | undefined;
  const run = async (): Promise<ReadinessResult> => {
    const [gatingResults, reportedResults] = await Promise.all([
      runChecks(gating, timeoutMs, logger),
      runChecks(reported, timeoutMs, logger),
    ]);
    const ready = Object.values(gatingResults).every((result) => result === 'ok');
    return { ready, checks: { ...gatingResults, ...reportedResults } };
  };
  return () => {
    if (last !== undefined && Date.now() - last.at < cacheMs) return Promise.resolve(last.result);
    running ??= run()
      .then((result) => {
        last = { at: Date.now(), result };
        return result;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}

async function runChecks(
  checks: Record<string, ReadinessCheck>,
  timeoutMs: number,
  logger: Logger,
): Promise<Record<string, 'ok' | 'fail'>> {
  const entries = Object.entries(checks);
  const settled = await Promise.allSettled(entries.map(([, check]) => withTimeout(check, timeoutMs)));
  const results: Record<string, 'ok' | 'fail'> = {};
  settled.forEach((outcome, index) => {
    const name = entries[index]![0];
    results[name] = outcome.status === 'fulfilled' ? 'ok' : 'fail';
    if (outcome.status === 'rejected')
      logger.warn({ check: name, err: outcome.reason }, 'readiness check failed');
  });
  return results;
}

async function withTimeout(check: ReadinessCheck, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Problem = { status: number; code: string; detail: string; extra?: Readonly<Record<string, unknown>> };

function handleError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  bodyLimitBytes: number,
): void {
  const problem = classifyError(error, bodyLimitBytes);
  if (problem === undefined && isTransientInfrastructureError(error)) {
    // The database went away (a restart, a failover) or refused this attempt
    // (a lock or statement timeout): not a bug, and retrying shortly is right.
    // What ran before it is in doubt only for a keyed request, whose retry
    // with the same key is answered from what was done.
    request.log.warn(
      { err: error, method: request.method, route: request.routeOptions.url },
      'a dependency is unavailable; answering 503',
    );
    sendProblem(
      request,
      reply,
      503,
      'SERVICE_UNAVAILABLE',
      'A service this request needs is unavailable for a moment; retry shortly.',
    );
    return;
  }
  if (problem === undefined) {
    request.log.error(
      { err: error, method: request.method, route: request.routeOptions.url },
      'unexpected error while handling request',
    );
    sendProblem(
      request,
      reply,
      500,
      'INTERNAL_ERROR',
      'An unexpected error occurred. Quote the traceId when reporting it.',
    );
    return;
  }
  // A 4xx is the client's: its code is on the access line. A 5xx is ours to look at, at warn too.
  if (problem.status >= 500)
    request.log.warn({ code: problem.code, status: problem.status }, 'request failed');
  sendProblem(request, reply, problem.status, problem.code, problem.detail, problem.extra);
}

/** Maps an error to the problem a client may see, or undefined when it is unexpected (a bug or an outage). */
function classifyError(error: unknown, bodyLimitBytes: number): Problem | undefined {
  if (error instanceof AppError) {
    return {
      status: error.status,
      code: error.code,
      detail: error.detail ?? reasonPhrase(error.status),
      extra: error.extra,
    };
  }
  if (!(error instanceof Error)) return undefined;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    return { status: 400, code: 'VALIDATION_FAILED', detail: describeValidation(fastifyError) };
  }
  const known = clientErrorsByFastifyCode(bodyLimitBytes)[fastifyError.code];
  if (known !== undefined) return known;
  const status = fastifyError.statusCode;
  // Any other 4xx carrying a status (a plugin's 429, an aborted upload) is
  // the client's problem; its message is not ours to vouch for, so only the
  // status is passed on.
  if (status !== undefined && status >= 400 && status < 500) {
    return { status, code: codeFromStatus(status), detail: reasonPhrase(status) };
  }
  return undefined;
}

function clientErrorsByFastifyCode(bodyLimitBytes: number): Record<string, Problem> {
  return {
    FST_ERR_CTP_INVALID_JSON_BODY: {
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: 'The body is not valid JSON',
    },
    FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'VALIDATION_FAILED', detail: 'The JSON body is empty' },
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: 'The body size does not match Content-Length',
    },
    FST_ERR_CTP_BODY_TOO_LARGE: {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      detail: `The body exceeds ${bodyLimitBytes} bytes`,
    },
    FST_ERR_CTP_INVALID_MEDIA_TYPE: {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      detail: 'The body must be application/json',
    },
  };
}

// Names the first failing field, as Fastify's context ('body', 'querystring')
// plus the JSON pointer: enough to fix the request, nothing about the code.
function describeValidation(error: FastifyError): string {
  const first = error.validation?.[0];
  if (first === undefined) return 'The request is invalid';
  const where = `${error.validationContext ?? 'request'}${first.instancePath}`;
  return `${where} ${first.message ?? 'is invalid'}`;
}

function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: Readonly<Record<string, unknown>> = {},
): void {
  // A problem that knows when to come back (a limit's window) says so in the header too;
  // every other 503 (a full queue, a dependency away, a draining instance) says a second (docs/api.md).
  if (!reply.hasHeader('retry-after')) {
    const retryAfterSeconds = extra.retryAfterSeconds;
    if (typeof retryAfterSeconds === 'number') reply.header('retry-after', String(retryAfterSeconds));
    else if (status === 503) reply.header('retry-after', '1');
  }
  const body = {
    ...extra,
    type: problemType(code),
    title: reasonPhrase(status),
    status,
    code,
    detail,
    traceId: request.id,
  };
  problemCodes.set(reply, code);
  reply.code(status).header(requestIdHeader, request.id).type(problemContentType).send(body);
}

/**
 * Node's requestTimeout stops counting once the headers are in: the body is
 * read afterwards, by the route's parser, and a client that sends it a byte a
 * second keeps the connection (and its buffers) for as long as it likes, since
 * each byte resets the idle timeout (slowloris; found by `npm run chaos --
 * fuzz`). A body gets requestTimeoutMs to arrive whole; then the connection
 * is dropped — the client is not sending a request, there is no one to answer.
 */
function boundBodyTime(app: HttpApp, requestTimeoutMs: number): void {
  if (requestTimeoutMs <= 0) return;
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const raw = request.raw;
    const hasBody =
      raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
    if (!hasBody || raw.complete) {
      done(null, payload);
      return;
    }
    const timer = setTimeout(() => {
      if (!raw.complete) raw.socket.destroy();
    }, requestTimeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    raw.once('end', clear);
    raw.once('close', clear);
    done(null, payload);
  });
}

export function problemType(code: string): string {
  return `https://nuri.bank/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

function codeFromStatus(status: number): string {
  return reasonPhrase(status)
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}

export type RunServerOptions = {
  host: string;
  port: number;
  /**
   * Listen on `port` with SO_REUSEPORT: several processes share the port and
   * the kernel spreads connections over them (gateway instances on one host).
   */
  reusePort?: boolean;
  /** A second port serving the same app (an instance's own port beside a shared one); 0 or absent: none. */
  extraPort?: number;
  /** After this long, shutdown gives up waiting and the process exits 1. */
  shutdownTimeoutMs?: number;
  /** Run in order after the server has drained: consumers, then relays, then pools. */
  onShutdown?: Array<() => Promise<void>>;
  signals?: NodeJS.Signals[];
  /** How the process ends; tests replace it. */
  exit?: (code: number) => void;
  /** Restarts of this instance before this process (NURI_INSTANCE_RESTARTS), shown by /health/ready. */
  instanceRestarts?: number | undefined;
};

export type ServerHandle = {
  /** Actual port (useful when listening on 0). */
  port: number;
  url: string;
  /** Drains and closes as a signal would; resolves with the drain's outcome (0 clean, 1 a step failed). */
  shutdown: (reason?: string) => Promise<number>;
};

/** Listens, and on SIGTERM/SIGINT drains in-flight requests, runs onShutdown hooks and exits. */
export async function runServer(app: HttpApp, options: RunServerOptions): Promise<ServerHandle> {
  const {
    host,
    port,
    shutdownTimeoutMs = 10_000,
    onShutdown = [],
    signals = ['SIGTERM', 'SIGINT'],
    exit: exitProcess = (code: number) => process.exit(code),
  } = options;
  // Whichever comes first (drain done, timeout, second signal) decides the
  // exit code; later ones must not overrule it.
  if (options.instanceRestarts !== undefined) restartsOfApps.set(app, options.instanceRestarts);
  let exited = false;
  const exit = (code: number) => {
    if (exited) return;
    exited = true;
    exitProcess(code);
  };
  const url = await app.listen({ host, port, ...(options.reusePort === true ? { reusePort: true } : {}) });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const extra = options.extraPort ? await listenExtra(app, host, options.extraPort) : undefined;

  let shutdownPromise: Promise<number> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shutdownPromise !== undefined) {
      app.log.error({ signal }, 'second signal during shutdown; exiting now');
      exit(1);
      return;
    }
    void shutdown(signal);
  };
  const shutdown = (reason = 'requested'): Promise<number> => {
    shutdownPromise ??= shutDownWithin(app, onShutdown, reason, shutdownTimeoutMs, exit, extra).finally(
      () => {
        for (const signal of signals) process.off(signal, onSignal);
      },
    );
    return shutdownPromise;
  };
  for (const signal of signals) process.on(signal, onSignal);
  app.log.info({ url, ...(extra === undefined ? {} : { extraPort: options.extraPort }) }, 'listening');
  return { port: boundPort, url, shutdown };
}

/** The app on a second port: a plain server handing requests to Fastify's router, with the same timeouts. */
async function listenExtra(app: HttpApp, host: string, port: number): Promise<Server> {
  const server = createServer(app.routing);
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.requestTimeout = app.server.requestTimeout;
  server.headersTimeout = app.server.headersTimeout;
  server.timeout = app.server.timeout;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function closeExtra(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

async function shutDownWithin(
  app: HttpApp,
  hooks: Array<() => Promise<void>>,
  reason: string,
  timeoutMs: number,
  exit: (code: number) => void,
  extra: Server | undefined,
): Promise<number> {
  app.log.info({ reason }, 'shutting down: draining requests');
  // Not unref'd: a hung hook must not keep the process alive past the limit.
  const timer = setTimeout(() => {
    app.log.error({ timeoutMs }, 'shutdown timed out; exiting');
    exit(1);
  }, timeoutMs);
  const code = await drainAndRunHooks(app, hooks, extra);
  clearTimeout(timer);
  app.log.info({ code }, 'shutdown complete');
  exit(code);
  return code;
}

async function drainAndRunHooks(
  app: HttpApp,
  hooks: Array<() => Promise<void>>,
  extra: Server | undefined,
): Promise<number> {
  drainingApps.add(app);
  let code = 0;
  try {
    // The second port drains with the main one: both answer through the same (now draining) app.
    await Promise.all([app.close(), extra === undefined ? undefined : closeExtra(extra)]);
  } catch (error) {
    app.log.error({ err: error }, 'closing the HTTP server failed');
    code = 1;
  }
  // Every hook runs even when an earlier one fails: a stuck consumer must not
  // leave the database pool open.
  for (const [index, hook] of hooks.entries()) {
    try {
      await hook();
    } catch (error) {
      app.log.error({ err: error, hook: index }, 'shutdown hook failed');
      code = 1;
    }
  }
  // Last: the spans of the drain itself are exported too.
  await stopTracing().catch((error: unknown) =>
    app.log.warn({ err: error }, 'exporting the last spans failed'),
  );
  return code;
}
