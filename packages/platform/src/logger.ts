import pino, { type DestinationStream, type Level, type LogFn, type Logger } from 'pino';
import { isCleanJsonText, redact, redactString } from './masking.ts';
import { activeTraceIds, offerSpanLogger, tracingEnabled } from './tracing.ts';

export type { Logger } from 'pino';

export type LoggerOptions = {
  /** The service or component; logged as `service` because `name` is masked as a person's name. */
  name: string;
  level?: Level | 'silent';
  /** Where JSON lines go; stdout (synchronously) when absent. */
  destination?: DestinationStream;
};

/**
 * A pino logger whose every line is redacted just before it is written.
 * Redacting the finished line, rather than hooking messages, merge objects,
 * bindings and serializers one by one, leaves no path around it: whatever
 * pino or Fastify adds to a line (child bindings, req/res, err.stack) is
 * covered too. The one exception is printf-style arguments ('%o'), which
 * pino renders into the message text where keys are lost; those are redacted
 * before formatting.
 */
export function createLogger({ name, level = 'info', destination }: LoggerOptions): Logger {
  const traced = tracingEnabled();
  const options = {
    level,
    base: { service: name, pid: process.pid },
    hooks: { logMethod: redactFormatArguments, streamWrite: redactLine },
    // With tracing on (tracing.ts), every line written inside a span names its trace.
    ...(traced ? { mixin: traceIdsOfLine } : {}),
  };
  const logger = destination === undefined ? pino(options) : pino(options, destination);
  if (traced) offerSpanLogger(logger);
  return logger;
}

// A span's own line (tracing.ts, console exporter) names its trace itself.
// Always a fresh object: pino assigns the line's fields into what the mixin
// returns, so a shared one would carry one line's fields into the next.
function traceIdsOfLine(mergeObject: object): object {
  return ('span' in mergeObject ? undefined : activeTraceIds()) ?? {};
}

function redactFormatArguments(this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  const formatStart = typeof args[0] === 'string' ? 1 : 2;
  const redactedArgs = args.map((arg, index) => (index < formatStart ? arg : redact(arg)));
  method.apply(this, redactedArgs as Parameters<LogFn>);
}

/** Redacts one serialized log line (JSON plus newline); a line with nothing to redact is written as it is. */
export function redactLine(line: string): string {
  if (isCleanJsonText(line)) return line;
  try {
    return `${JSON.stringify(redact(JSON.parse(line)))}\n`;
  } catch {
    // Not JSON (should not happen with pino): fall back to pattern-only masking.
    return redactString(line);
  }
}
