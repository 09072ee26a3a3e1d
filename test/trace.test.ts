import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findJourney, formatJourney, logFilesIn } from '../src/cli/commands/trace.ts';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const otherTrace = '00f067aa0ba902b7a3ce929d0e0e4736';
const requestId = '01970c2a-7a3e-7cc1-9d2b-3f1e2a4b5c6d';

function line(fields: Record<string, unknown>): string {
  return JSON.stringify({ level: 30, time: Date.parse('2026-12-07T10:00:00.000Z'), pid: 100, ...fields });
}

function span(fields: {
  spanId: string;
  parentSpanId?: string;
  operation: string;
  kind: string;
  offsetMs: number;
  service: string;
  trace?: string;
}) {
  return line({
    service: fields.service,
    time: Date.parse('2026-12-07T10:00:01.000Z') + fields.offsetMs,
    traceId: fields.trace ?? traceId,
    msg: 'span',
    span: {
      traceId: fields.trace ?? traceId,
      spanId: fields.spanId,
      ...(fields.parentSpanId === undefined ? {} : { parentSpanId: fields.parentSpanId }),
      operation: fields.operation,
      kind: fields.kind,
      startTime: new Date(Date.parse('2026-12-07T10:00:01.000Z') + fields.offsetMs).toISOString(),
      durationMs: 2.5,
      status: 'ok',
    },
  });
}

function logsWith(files: Record<string, string[]>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nuri-trace-test-'));
  for (const [name, lines] of Object.entries(files)) writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
  return dir;
}

test('when asked by request id, then the request’s lines in every service and the rest of its trace are found, in time order', async () => {
  const dir = logsWith({
    'gateway.log': [
      line({
        service: 'gateway',
        reqId: requestId,
        traceId,
        msg: 'request completed',
        time: 2,
        res: { statusCode: 202 },
      }),
      line({ service: 'gateway', reqId: 'another', traceId: otherTrace, msg: 'request completed', time: 3 }),
      'not json: a stray line',
    ],
    'channel-user.log': [
      line({
        service: 'channel-user',
        reqId: requestId,
        traceId,
        msg: 'request completed',
        time: 1,
        // One access line per request: the request and its answer together (http.ts).
        req: { method: 'POST', url: '/api/v1/accounts/110-234-567890/deposits' },
        res: { statusCode: 202 },
        responseTime: 4.2,
      }),
    ],
    // The consumer's line has no request id, only the trace's.
    'core-payment.log': [line({ service: 'core-payment', traceId, msg: 'event handled', time: 5 })],
  });
  try {
    const journey = await findJourney(requestId, logFilesIn(dir));
    assert.deepEqual(journey.traceIds, [traceId]);
    assert.deepEqual(
      journey.lines.map((found) => `${found.service} ${found.msg}`),
      ['channel-user request completed', 'gateway request completed', 'core-payment event handled'],
    );
    const text = formatJourney(requestId, journey);
    assert.match(text, /3 lines from channel-user, gateway, core-payment; trace 4bf92f35/);
    assert.match(
      text,
      /channel-user.*request completed {2}POST \/api\/v1\/accounts\/110-234-567890\/deposits {2}→ 202/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('when spans were logged, then the trace prints as a tree with each span under its parent', async () => {
  const dir = logsWith({
    'gateway.log': [
      span({
        service: 'gateway',
        spanId: 'a1',
        operation: 'POST /api/v1/accounts/*',
        kind: 'SERVER',
        offsetMs: 0,
      }),
    ],
    'channel-user.log': [
      span({
        service: 'channel-user',
        spanId: 'b1',
        parentSpanId: 'a1',
        operation: 'POST /api/v1/accounts/:accountNo/deposits',
        kind: 'SERVER',
        offsetMs: 1,
      }),
      span({
        service: 'channel-user',
        spanId: 'b2',
        parentSpanId: 'b1',
        operation: 'publish deposit.requested',
        kind: 'PRODUCER',
        offsetMs: 5,
      }),
    ],
    'core-payment.log': [
      span({
        service: 'core-payment',
        spanId: 'c1',
        parentSpanId: 'b2',
        operation: 'process deposit.requested',
        kind: 'CONSUMER',
        offsetMs: 9,
      }),
      span({
        service: 'core-payment',
        spanId: 'x1',
        operation: 'GET /other',
        kind: 'SERVER',
        offsetMs: 9,
        trace: otherTrace,
      }),
    ],
  });
  try {
    const journey = await findJourney(traceId, logFilesIn(dir));
    const text = formatJourney(traceId, journey);
    const rows = text.split('\n').filter((row) => row.includes(' ms  '));
    assert.equal(rows.length, 4, text);
    assert.match(rows[0]!, /^ +\+0 ms +2\.5 ms {2}gateway +server +POST \/api\/v1\/accounts\/\*$/);
    assert.match(rows[1]!, /^ +\+1 ms +2\.5 ms {4}channel-user +server/);
    assert.match(rows[2]!, /^ +\+5 ms +2\.5 ms {6}channel-user +producer publish deposit\.requested/);
    assert.match(rows[3]!, /^ +\+9 ms +2\.5 ms {8}core-payment +consumer process deposit\.requested/);
    assert.ok(!text.includes('GET /other'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('when nothing mentions the id, then the journey is empty', async () => {
  const dir = logsWith({
    'gateway.log': [line({ service: 'gateway', reqId: 'x', msg: 'request completed' })],
  });
  try {
    const journey = await findJourney(traceId, logFilesIn(dir));
    assert.equal(journey.lines.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
