import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEvent, setTraceparentSource } from '@nuri/contracts/events';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { publishTraced } from '../../src/kafka/producer.ts';
import { createLogger } from '../../src/logger.ts';
import { inSpan, SpanKind, startTracing, traceparentOf, tracingEnabled } from '../../src/tracing.ts';

// Tracing is process-wide (OpenTelemetry's globals): the node test runner
// gives this file a process of its own, and the tests run in order.

const exporter = new InMemorySpanExporter();

function captureLines() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } };
}

const deposit = {
  depositId: '01970c2a-7a3e-7cc1-9d2b-3f1e2a4b5c6d',
  accountNo: '110-234-567890',
  userUuid: '2f1c6c1e-4a8b-4c1d-9e2f-3a4b5c6d7e8f',
  amount: 1_000,
  requestedAt: '2026-12-07T10:00:00.000Z',
};

test('when no exporter is configured, then tracing stays off and the logger adds nothing', () => {
  assert.equal(startTracing({ serviceName: 'test', config: {} }), false);
  assert.equal(startTracing({ serviceName: 'test', config: { OTEL_TRACES_EXPORTER: 'none' } }), false);
  assert.equal(tracingEnabled(), false);
  const { lines, destination } = captureLines();
  createLogger({ name: 'test', destination }).info({ a: 1 }, 'hello');
  assert.deepEqual(Object.keys(lines[0]!).sort(), ['a', 'level', 'msg', 'pid', 'service', 'time']);
});

test('when tracing is on, then lines inside a span carry its ids and lines outside carry nothing of earlier lines', async () => {
  assert.equal(
    startTracing({ serviceName: 'test', config: {}, exporter, traceEvents: setTraceparentSource }),
    true,
  );
  const { lines, destination } = captureLines();
  const logger = createLogger({ name: 'test', destination });
  let spanIds: { traceId: string; spanId: string } | undefined;
  await inSpan('work', {}, async (span) => {
    spanIds = { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
    logger.info({ accountNo: '110-234-567890', reqId: 'r1' }, 'inside');
  });
  logger.info({ other: true }, 'outside');
  assert.equal(lines[0]!.traceId, spanIds!.traceId);
  assert.equal(lines[0]!.spanId, spanIds!.spanId);
  // pino merges each line's fields into what the mixin returns: nothing may carry over.
  assert.deepEqual(Object.keys(lines[1]!).sort(), ['level', 'msg', 'other', 'pid', 'service', 'time']);
});

test('when an event is made inside a span, then its envelope carries that span as traceparent; outside, none', async () => {
  const outside = createEvent('deposit.requested', deposit, { source: 'test', correlationId: 'c' });
  assert.equal(outside.traceparent, undefined);
  const inside = await inSpan('request', {}, async (span) => ({
    event: createEvent('deposit.requested', deposit, { source: 'test', correlationId: 'c' }),
    expected: traceparentOf(span),
  }));
  assert.match(inside.event.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(inside.event.traceparent, inside.expected);
  const explicit = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const given = createEvent('deposit.requested', deposit, {
    source: 'test',
    correlationId: 'c',
    traceparent: explicit,
  });
  assert.equal(given.traceparent, explicit);
});

test('when events are published, then each that carries a traceparent gets a producer span under it, the rest none', async () => {
  exporter.reset();
  const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const sent: string[] = [];
  const producer = {
    sendRaw: async (messages: readonly { value: string }[]) =>
      void sent.push(...messages.map((m) => m.value)),
  };
  const traced = JSON.stringify({ id: 'a', traceparent: parent, data: { accountNo: '110-234-567890' } });
  const untraced = JSON.stringify({ id: 'b', data: {} });
  await publishTraced(
    producer,
    [
      { topic: 'deposit.requested', key: 'k', value: traced },
      { topic: 'deposit.requested', key: 'k', value: untraced },
    ],
    true,
  );
  assert.equal(sent.length, 2);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1);
  const [span] = spans;
  assert.equal(span!.name, 'publish deposit.requested');
  assert.equal(span!.kind, SpanKind.PRODUCER);
  assert.equal(span!.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(span!.parentSpanContext?.spanId, 'b7ad6b7169203331');
  assert.ok(!JSON.stringify(span!.attributes).includes('110-234-567890'), 'no message content in a span');
});
