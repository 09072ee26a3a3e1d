import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { type TProperties, Type } from 'typebox';
import type { Logger } from './logger.ts';

// OpenTelemetry tracing (README "Monitoring and tracing"): one trace from the
// gateway through the services, the database and both Kafka hops, the W3C
// `traceparent` riding in HTTP headers and in the event envelope.
//
// Off unless configured, and then at no cost: every instrumentation point
// (http.ts, upstream.ts, db.ts, the Kafka consumer and relay, the logger)
// asks `tracingEnabled()` once, when it is built, and installs nothing when
// it is false — no hook, no wrapper, no context manager.
//
// What a span may carry: route templates, topics, groups, event ids, SQL
// operation names, status codes. Never a URL path or a query (they hold
// ids and account numbers), never SQL text or parameters, never a header
// value, a body, a name, an RRN or a phone number.

export const tracingConfig = {
  /** Where spans go over OTLP/HTTP (a collector, Jaeger, Tempo): `http://host:4318`; `/v1/traces` is added. */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  /**
   * Which exporters, comma separated: `otlp` (the default when the endpoint
   * is set), `console` (each finished span as a JSON log line, for
   * `nuri trace` on machines without a tracing backend), `none`.
   */
  OTEL_TRACES_EXPORTER: Type.Optional(
    Type.String({ pattern: '^(otlp|console|none)(,(otlp|console|none))*$' }),
  ),
} satisfies TProperties;

export type TracingConfig = {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_TRACES_EXPORTER?: string | undefined;
};

let tracer: Tracer | undefined;
let provider: TracerProvider | undefined;

/** True once startTracing found something to export to; read when instrumentation is built. */
export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

export interface StartTracingOptions {
  serviceName: string;
  config: TracingConfig;
  /** Tests: export here too (an in-memory exporter), span by span. */
  exporter?: SpanExporter;
  /**
   * `setTraceparentSource` of @nuri/contracts/events, for a service that makes
   * events: each event then carries the active span, and the Kafka hop
   * continues the trace (the platform does not import the contracts).
   */
  traceEvents?: (source: () => string | undefined) => void;
}

// `console` spans go through the first logger made after tracing started
// (createLogger registers it): the service's own, with its redaction.
let spanLogger: Logger | undefined;

/** Called by createLogger when tracing is on; the first logger of the process keeps the span lines. */
export function offerSpanLogger(logger: Logger): void {
  spanLogger ??= logger;
}

/**
 * Turns tracing on for this process when the config asks for an exporter
 * (or a test passes one); otherwise does nothing at all. Call it first in a
 * service's main, before the logger, the database and the app are built.
 */
export function startTracing(options: StartTracingOptions): boolean {
  if (tracer !== undefined) return true;
  const processors = spanProcessorsOf(options);
  if (processors.length === 0) return false;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: processors,
  });
  trace.setGlobalTracerProvider(provider);
  tracer = provider.getTracer('nuri');
  // Events made while a span is active carry it: the Kafka hop continues the trace.
  options.traceEvents?.(currentTraceparent);
  return true;
}

function spanProcessorsOf(options: StartTracingOptions): SpanProcessor[] {
  const { config } = options;
  const exporters = new Set(
    (config.OTEL_TRACES_EXPORTER ?? (config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined ? 'none' : 'otlp'))
      .split(',')
      .filter((name) => name !== 'none'),
  );
  const processors: SpanProcessor[] = [];
  if (exporters.has('otlp') && config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) {
    const url = `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
    // Batches leave every second or at 512 spans; past 8,192 waiting, spans are dropped rather than queued without bound.
    processors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url, timeoutMillis: 10_000 }),
        scheduledDelayMillis: 1_000,
        maxExportBatchSize: 512,
        maxQueueSize: 8_192,
      }),
    );
  }
  if (exporters.has('console')) processors.push(new SimpleSpanProcessor({ exporter: new LogSpanExporter() }));
  if (options.exporter !== undefined)
    processors.push(new SimpleSpanProcessor({ exporter: options.exporter }));
  return processors;
}

/** Exports what is still buffered and stops; the last step of a service's shutdown (runServer). */
export async function stopTracing(): Promise<void> {
  const stopping = provider;
  provider = undefined;
  await stopping?.shutdown();
}

/** The active span's context as a W3C traceparent, or undefined when no span is active (or tracing is off). */
export function currentTraceparent(): string | undefined {
  const span = trace.getSpan(context.active());
  return span === undefined ? undefined : traceparentOf(span);
}

export function traceparentOf(span: Span): string | undefined {
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return undefined;
  return `00-${traceId}-${spanId}-0${(traceFlags & 1).toString(16)}`;
}

/** The ids the logger adds to each line written while a span is active. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const span = trace.getSpan(context.active());
  if (span === undefined) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** A context whose parent is the remote span a traceparent names (ROOT when absent or malformed). */
export function contextOfTraceparent(traceparent: string | undefined): Context {
  if (traceparent === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** A context from incoming HTTP headers (their traceparent), or ROOT. */
export function contextOfHeaders(headers: Record<string, string | string[] | undefined>): Context {
  const value = headers.traceparent;
  return contextOfTraceparent(typeof value === 'string' ? value : undefined);
}

/** Whether a span is active here: database and client spans are made only inside a trace, never as roots. */
export function insideTrace(): boolean {
  return trace.getSpan(context.active()) !== undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: Link[];
  /** The parent; the active context by default. */
  parent?: Context;
}

/** Starts a span (not made active). Only call when tracingEnabled(). */
export function startSpan(name: string, options: SpanOptions = {}): Span {
  const active = tracer ?? trace.getTracer('nuri');
  return active.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes === undefined ? {} : { attributes: options.attributes }),
      ...(options.links === undefined ? {} : { links: options.links }),
    },
    options.parent ?? context.active(),
  );
}

/** Ends a span, marking it failed with the error's class (never its message, which may quote input). */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorName(error) });
    span.setAttribute('error.type', errorName(error));
  }
  span.end();
}

/** Runs `run` with `span` active, so spans started inside are its children. */
export function withSpanActive<T>(span: Span, run: () => T, parent: Context = context.active()): T {
  return context.with(trace.setSpan(parent, span), run);
}

/** Runs `run` inside a new active span, ended when it settles. Only call when tracingEnabled(). */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  run: (span: Span) => Promise<T>,
): Promise<T> {
  const span = startSpan(name, options);
  try {
    const result = await withSpanActive(span, () => run(span), options.parent);
    endSpan(span);
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}

export function linkOf(span: Span): Link {
  return { context: span.spanContext() };
}

function errorName(error: unknown): string {
  if (error instanceof Error) return (error as { code?: unknown }).code?.toString() ?? error.name;
  return typeof error;
}

export { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode };

/**
 * `OTEL_TRACES_EXPORTER=console`: each finished span as one JSON log line
 * (through the service's logger, so the redaction applies), which
 * `nuri trace` puts back together as a tree.
 */
class LogSpanExporter implements SpanExporter {
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const logger = spanLogger;
    for (const span of logger === undefined ? [] : spans) {
      const { traceId, spanId } = span.spanContext();
      const durationMs = span.duration[0] * 1_000 + span.duration[1] / 1e6;
      logger!.info(
        {
          traceId,
          spanId,
          span: {
            traceId,
            spanId,
            parentSpanId: span.parentSpanContext?.spanId,
            // Not `name`: the log redaction masks any field so called as a person's name.
            operation: span.name,
            kind: SpanKind[span.kind],
            startTime: new Date(span.startTime[0] * 1_000 + span.startTime[1] / 1e6).toISOString(),
            durationMs: Math.round(durationMs * 1_000) / 1_000,
            status: span.status.code === SpanStatusCode.ERROR ? 'error' : 'ok',
            attributes: span.attributes,
          },
        },
        'span',
      );
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}
