// `nuri trace <traceId|requestId>`: one request's journey across the
// services, read back from the logs `npm start` keeps (.nuri/logs, one file
// per instance), for machines without a tracing backend.
//
// What it can show depends on what the services wrote:
// - always: each service's log lines of the request, found by its request id
//   (the gateway hands its x-request-id to the channel services, and they to
//   the core) — the HTTP hops;
// - with tracing on: every line written inside the trace carries its traceId,
//   so a request id leads to its trace id and the Kafka hops' lines join in;
// - with OTEL_TRACES_EXPORTER=console: every span is a log line too, and the
//   journey is printed as a tree — gateway, services, database statements,
//   Kafka produce and consume — with each span's start and duration.
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CliError } from '../log.ts';
import { logDir as defaultLogDir } from '../logs.ts';

export interface LogLine {
  time: number;
  service: string;
  pid?: number;
  level: number;
  msg: string;
  reqId?: string;
  traceId?: string;
  span?: SpanLine;
  /** The instance's log file it came from (`coupon-2.log`). */
  file: string;
  raw: Record<string, unknown>;
}

export interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  operation: string;
  kind: string;
  startTime: string;
  durationMs: number;
  status: string;
  attributes?: Record<string, unknown>;
}

const traceIdPattern = /^[0-9a-f]{32}$/;

/** Parses one log line; anything that is not a service's JSON line is skipped. */
export function parseLogLine(text: string, file: string): LogLine | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || typeof raw.time !== 'number') return undefined;
  const span = raw.span as SpanLine | undefined;
  const traceId =
    typeof raw.traceId === 'string'
      ? raw.traceId
      : typeof span?.traceId === 'string'
        ? span.traceId
        : undefined;
  return {
    time: raw.time,
    service: typeof raw.service === 'string' ? raw.service : '?',
    ...(typeof raw.pid === 'number' ? { pid: raw.pid } : {}),
    level: typeof raw.level === 'number' ? raw.level : 30,
    msg: typeof raw.msg === 'string' ? raw.msg : '',
    ...(typeof raw.reqId === 'string' ? { reqId: raw.reqId } : {}),
    ...(traceId === undefined ? {} : { traceId }),
    ...(span !== undefined && typeof span.spanId === 'string' ? { span } : {}),
    file,
    raw,
  };
}

export interface Journey {
  /** The trace ids the journey spans (a request id may lead to one; none when tracing was off). */
  traceIds: string[];
  lines: LogLine[];
}

/**
 * The lines of one journey: by trace id, every line of that trace; by request
 * id, the lines of that request and then of every trace they name.
 */
export async function findJourney(id: string, files: readonly string[]): Promise<Journey> {
  const byTrace = traceIdPattern.test(id);
  const first = await scan(
    files,
    (text) => text.includes(id),
    (line) => (byTrace ? line.traceId === id : line.reqId === id),
  );
  const traceIds = byTrace
    ? [id]
    : [...new Set(first.flatMap((line) => (line.traceId === undefined ? [] : [line.traceId])))];
  if (byTrace || traceIds.length === 0) return { traceIds, lines: sortByTime(first) };
  const traced = await scan(
    files,
    (text) => traceIds.some((traceId) => text.includes(traceId)),
    (line) => line.traceId !== undefined && traceIds.includes(line.traceId),
  );
  // A line of the request that names its trace is found by both scans: kept once.
  const seen = new Set<string>();
  const merged = [...first, ...traced].filter((line) => {
    const key = `${line.file}:${line.time}:${line.msg}:${line.span?.spanId ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { traceIds, lines: sortByTime(merged) };
}

async function scan(
  files: readonly string[],
  cheap: (text: string) => boolean,
  wanted: (line: LogLine) => boolean,
): Promise<LogLine[]> {
  const found: LogLine[] = [];
  for (const file of files) {
    const name = file.slice(file.lastIndexOf('/') + 1);
    const reader = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const text of reader) {
      if (!cheap(text)) continue;
      const line = parseLogLine(text, name);
      if (line !== undefined && wanted(line)) found.push(line);
    }
  }
  return found;
}

function sortByTime(lines: LogLine[]): LogLine[] {
  return lines.sort((a, b) => a.time - b.time);
}

const levelNames: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** The journey as text: the span tree when spans were logged, then every log line in time order. */
export function formatJourney(id: string, journey: Journey): string {
  const out: string[] = [];
  const spans = journey.lines.flatMap((line) => (line.span === undefined ? [] : [{ line, span: line.span }]));
  const logs = journey.lines.filter((line) => line.span === undefined);
  const services = [...new Set(journey.lines.map((line) => line.service))];
  out.push(
    `${id}: ${journey.lines.length} lines from ${services.join(', ') || 'no service'}` +
      (journey.traceIds.length > 0
        ? `; trace ${journey.traceIds.join(', ')}`
        : '; no trace id (tracing off)'),
  );
  if (spans.length > 0) {
    out.push('', `spans (${spans.length}):`);
    out.push(...spanTree(spans));
  }
  if (logs.length > 0) {
    out.push('', `log lines (${logs.length}):`);
    for (const line of logs) out.push(formatLine(line));
  }
  return `${out.join('\n')}\n`;
}

function spanTree(spans: ReadonlyArray<{ line: LogLine; span: SpanLine }>): string[] {
  const byParent = new Map<string, Array<{ line: LogLine; span: SpanLine }>>();
  const ids = new Set(spans.map(({ span }) => span.spanId));
  for (const entry of spans) {
    // A span whose parent was not logged (another machine, a service without console spans) is shown as a root.
    const parent =
      entry.span.parentSpanId !== undefined && ids.has(entry.span.parentSpanId)
        ? entry.span.parentSpanId
        : '';
    byParent.set(parent, [...(byParent.get(parent) ?? []), entry]);
  }
  const startOf = (span: SpanLine) => Date.parse(span.startTime);
  const origin = Math.min(...spans.map(({ span }) => startOf(span)));
  const rows: string[] = [];
  const walk = (parent: string, depth: number) => {
    const children = (byParent.get(parent) ?? []).sort((a, b) => startOf(a.span) - startOf(b.span));
    for (const { line, span } of children) {
      const offset = `+${(startOf(span) - origin).toFixed(0)} ms`.padStart(10);
      const duration = `${span.durationMs.toFixed(1)} ms`.padStart(10);
      const status = span.status === 'error' ? '  ERROR' : '';
      rows.push(
        `${offset} ${duration}  ${'  '.repeat(depth)}${line.service.padEnd(13)} ${span.kind.toLowerCase().padEnd(8)} ${span.operation}${status}`,
      );
      walk(span.spanId, depth + 1);
    }
  };
  walk('', 0);
  return rows;
}

function formatLine(line: LogLine): string {
  const time = new Date(line.time).toISOString().slice(11, 23);
  const level = (levelNames[line.level] ?? String(line.level)).padEnd(5);
  const details: string[] = [];
  const request = line.raw.req as { method?: string; url?: string } | undefined;
  const response = line.raw.res as { statusCode?: number } | undefined;
  if (request?.method !== undefined) details.push(`${request.method} ${request.url ?? ''}`);
  if (response?.statusCode !== undefined) details.push(`→ ${response.statusCode}`);
  if (typeof line.raw.responseTime === 'number') details.push(`${line.raw.responseTime.toFixed(1)} ms`);
  for (const key of ['code', 'status', 'topic', 'groupId', 'err']) {
    const value = line.raw[key];
    if (value === undefined) continue;
    details.push(`${key}=${typeof value === 'object' ? JSON.stringify(value).slice(0, 200) : String(value)}`);
  }
  const who = `${line.service}${line.pid === undefined ? '' : `(${line.pid})`}`;
  return `${time} ${level} ${who.padEnd(20)} ${line.msg}${details.length > 0 ? `  ${details.join('  ')}` : ''}`;
}

/** Every instance's log, current and previous (`.log.1`), in a folder. */
export function logFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.log') || name.endsWith('.log.1'))
    .sort()
    .map((name) => join(dir, name));
}

/** `nuri trace <traceId|requestId> [--logs DIR]`: exit 0 when something was found, 1 when nothing was. */
export async function trace(args: string[]): Promise<number> {
  let dir = defaultLogDir;
  const ids: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === '--logs') {
      dir = args[index + 1] ?? '';
      index += 1;
    } else if (arg.startsWith('--logs=')) {
      dir = arg.slice('--logs='.length);
    } else {
      ids.push(arg);
    }
  }
  if (ids.length !== 1 || ids[0] === '' || dir === '') {
    throw new CliError('usage: nuri trace <traceId|requestId> [--logs DIR]');
  }
  const id = ids[0]!;
  const files = logFilesIn(dir);
  if (files.length === 0) {
    throw new CliError(`no logs in ${dir}: npm start keeps every instance's output there while it runs`);
  }
  const journey = await findJourney(id, files);
  if (journey.lines.length === 0) {
    process.stderr.write(
      `nuri: nothing in ${dir} mentions ${id}. Request ids are logged at NURI_LOG_LEVEL=info (the default); ` +
        'trace ids only with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_TRACES_EXPORTER=console to keep the spans in these logs).\n',
    );
    return 1;
  }
  process.stdout.write(formatJourney(id, journey));
  return 0;
}
