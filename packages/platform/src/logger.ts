import pino, { type DestinationStream, type Level, type LogFn, type Logger } from 'pino';
import { redact, redactString } from './masking.ts';

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
  const options = {
    level,
    base: { service: name, pid: process.pid },
    hooks: { logMethod: redactFormatArguments, streamWrite: redactLine },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

function redactFormatArguments(this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  const formatStart = typeof args[0] === 'string' ? 1 : 2;
  const redactedArgs = args.map((arg, index) => (index < formatStart ? arg : redact(arg)));
  method.apply(this, redactedArgs as Parameters<LogFn>);
}

/** Redacts one serialized log line (JSON plus newline). */
export function redactLine(line: string): string {
  try {
    return `${JSON.stringify(redact(JSON.parse(line)))}\n`;
  } catch {
    // Not JSON (should not happen with pino): fall back to pattern-only masking.
    return redactString(line);
  }
}
