import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootDir } from '../src/cli/paths.ts';
import { startTestSystem, type TestSystem } from './harness.ts';
import { BankClient, type Customer, newCustomer, settledDeposit } from './workload.ts';

// One deposit followed across the whole system by its spans: the services
// export over OTLP/HTTP (as to a collector) to an in-memory collector in this
// test, which keeps every span it is sent.

type Attribute = { key: string; value: Record<string, unknown> };
interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
}

// OTLP JSON: ids as hex (or base64 from some encoders), attribute values as { stringValue | intValue | … }.
const hexOf = (id: unknown) =>
  typeof id !== 'string' || id === ''
    ? ''
    : /^[0-9a-f]+$/.test(id)
      ? id
      : Buffer.from(id, 'base64').toString('hex');
const attributeValue = (value: Record<string, unknown>) => Object.values(value)[0];
const attributesOf = (list: Attribute[] | undefined) =>
  Object.fromEntries((list ?? []).map((attribute) => [attribute.key, attributeValue(attribute.value)]));

const collected: CollectedSpan[] = [];
const received: string[] = [];
let collector: Server;
let collectorUrl: string;
let system: TestSystem | undefined;
let logDir: string;
let client: BankClient;
let customer: Customer;
let traceId: string;
let requestId: string;

function startCollector(): Promise<void> {
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      received.push(text);
      const body = JSON.parse(text) as {
        resourceSpans: Array<{
          resource: { attributes: Attribute[] };
          scopeSpans: Array<{ spans: Array<Record<string, unknown>> }>;
        }>;
      };
      for (const resource of body.resourceSpans) {
        const service = String(attributesOf(resource.resource.attributes)['service.name']);
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            collected.push({
              service,
              traceId: hexOf(span.traceId),
              spanId: hexOf(span.spanId),
              parentSpanId: hexOf(span.parentSpanId),
              name: String(span.name),
              kind: Number(span.kind),
              attributes: attributesOf(span.attributes as Attribute[]),
              links: ((span.links as Array<Record<string, unknown>>) ?? []).map((link) => ({
                traceId: hexOf(link.traceId),
                spanId: hexOf(link.spanId),
              })),
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => {
    collector.listen(0, '127.0.0.1', () => {
      const address = collector.address();
      collectorUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
      resolve();
    });
  });
}

before(async () => {
  await startCollector();
  logDir = mkdtempSync(join(tmpdir(), 'nuri-trace-logs-'));
  system = await startTestSystem({
    logDir,
    // Spans to the collector, and as log lines too, for `nuri trace`.
    envOverrides: {
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_TRACES_EXPORTER: 'otlp,console',
      NURI_LOG_LEVEL: 'info',
    },
  });
  client = new BankClient(system.gatewayUrl);
  customer = await newCustomer(client);
});

after(async () => {
  await system?.shutdown();
  collector?.close();
  if (logDir !== undefined) rmSync(logDir, { recursive: true, force: true });
});

async function spansOf(trace: string, until: (spans: CollectedSpan[]) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = collected.filter((span) => span.traceId === trace);
    if (until(spans) || Date.now() > deadline) return spans;
    await sleep(250);
  }
}

const prefix = () => system!.env.NURI_KAFKA_TOPIC_PREFIX ?? '';

test('when a customer deposits, then one trace covers the gateway, channel-user, core-payment and both Kafka hops', async () => {
  const accepted = await client.send('POST', `/api/v1/accounts/${customer.accountNo}/deposits`, {
    token: customer.token,
    body: { amount: 12_345 },
  });
  assert.equal(accepted.status, 202, accepted.text);
  requestId = accepted.headers.get('x-request-id') ?? '';
  const settled = await settledDeposit(client, customer, accepted.body.depositId, 30_000);
  assert.equal(settled.body.status, 'COMPLETED');

  // The gateway's server span for the POST is the trace's root.
  const root = await (async () => {
    for (let waited = 0; waited < 15_000; waited += 250) {
      const found = collected.find(
        (span) =>
          span.service === 'gateway' &&
          span.kind === 2 &&
          span.attributes['http.request.method'] === 'POST' &&
          span.parentSpanId === '' &&
          collected.some(
            (other) =>
              other.traceId === span.traceId &&
              other.service === 'channel-user' &&
              other.name === 'POST /api/v1/accounts/:accountNo/deposits',
          ),
      );
      if (found !== undefined) return found;
      await sleep(250);
    }
    assert.fail('no gateway span of the deposit was exported');
  })();
  traceId = root.traceId;
  const settledTopic = `${prefix()}deposit.settled`;
  const requestedTopic = `${prefix()}deposit.requested`;
  const spans = await spansOf(
    traceId,
    // Each service exports on its own timer: wait for both ends of the Kafka hops, not the first to arrive.
    (found) =>
      found.some((span) => span.service === 'channel-user' && span.name === `process ${settledTopic}`) &&
      found.some((span) => span.service === 'core-payment' && span.name === `process ${requestedTopic}`) &&
      found.some((span) => span.service === 'core-payment' && span.name === `publish ${settledTopic}`),
    30_000,
  );
  const shape = spans.map((span) => `${span.service} ${span.kind} ${span.name}`).join('\n');
  const has = (service: string, name: string, kind: number) =>
    spans.some((span) => span.service === service && span.name === name && span.kind === kind) ||
    assert.fail(`no ${service} span "${name}" (kind ${kind}) in the trace:\n${shape}`);
  // SpanKind in OTLP: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
  assert.ok(has('gateway', root.name, 2), 'gateway server span');
  assert.ok(
    spans.some(
      (span) =>
        span.service === 'gateway' && span.kind === 3 && span.attributes['nuri.upstream'] === 'channel-user',
    ),
    'gateway → channel-user client span',
  );
  assert.ok(has('channel-user', 'POST /api/v1/accounts/:accountNo/deposits', 2), 'channel-user server span');
  assert.ok(has('channel-user', `publish ${requestedTopic}`, 4), 'deposit.requested produced');
  assert.ok(has('core-payment', `process ${requestedTopic}`, 5), 'deposit.requested consumed');
  assert.ok(has('core-payment', `publish ${settledTopic}`, 4), 'deposit.settled produced');
  assert.ok(has('channel-user', `process ${settledTopic}`, 5), 'deposit.settled consumed');
  for (const service of ['channel-user', 'core-payment']) {
    assert.ok(
      spans.some(
        (span) =>
          span.service === service && span.kind === 3 && span.attributes['db.system.name'] === 'postgresql',
      ),
      `${service} database spans`,
    );
  }
  // One tree: every span but the root has its parent in the trace.
  const ids = new Set(spans.map((span) => span.spanId));
  const orphans = spans.filter((span) => span.parentSpanId !== '' && !ids.has(span.parentSpanId));
  assert.deepEqual(
    orphans.map((span) => `${span.service} ${span.name}`),
    [],
    'spans whose parent is not in the trace',
  );
  assert.equal(spans.filter((span) => span.parentSpanId === '').length, 1, 'one root');
});

test('when spans are exported, then none carries a name, an RRN, a token or a URL path', () => {
  const everything = received.join('\n');
  const { person } = customer;
  for (const secret of [
    person.name,
    person.rrn,
    person.rrn.replace('-', ''),
    person.password,
    customer.token,
  ]) {
    assert.ok(!everything.includes(secret), 'a span carries personal data or a secret');
  }
  // Routes are templates: no account number is written into a span name or attribute.
  assert.ok(!everything.includes(customer.accountNo), 'a span carries an account number from a URL');
});

test('when services log while handling the deposit, then their lines carry its trace id', () => {
  const files = readdirSync(logDir);
  const linesOf = (file: string) =>
    readFileSync(join(logDir, file), 'utf8')
      .split('\n')
      .filter((line) => line.includes(traceId));
  assert.ok(files.includes('gateway.log') && files.includes('channel-user.log'), files.join(', '));
  for (const file of ['gateway.log', 'channel-user.log']) {
    const lines = linesOf(file).map((line) => JSON.parse(line) as { traceId?: string; msg?: string });
    assert.ok(lines.length > 0, `${file} has lines of the trace`);
    assert.ok(lines.every((line) => line.traceId === traceId));
    assert.ok(
      lines.some((line) => line.msg === 'request completed'),
      `${file}: Fastify's own line of the request names the trace`,
    );
  }
});

function nuriTrace(id: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    [join(rootDir, 'src', 'cli', 'main.ts'), 'trace', id, '--logs', logDir],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('when `nuri trace` is asked for the trace id or the request id, then it prints the deposit’s journey from the logs as a tree', async () => {
  // The last spans reach the logs with the settlement: wait for channel-user's consumer span line.
  const settledTopic = `${prefix()}deposit.settled`;
  for (let waited = 0; waited < 15_000; waited += 250) {
    if (readFileSync(join(logDir, 'channel-user.log'), 'utf8').includes(`process ${settledTopic}`)) break;
    await sleep(250);
  }
  const byTrace = nuriTrace(traceId);
  assert.equal(byTrace.status, 0, byTrace.stderr);
  const tree = byTrace.stdout.split('\n').filter((row) => / ms {2}/.test(row));
  const rowOf = (service: string, operation: string) =>
    tree.find((row) => row.includes(` ${service} `) && row.includes(operation));
  for (const [service, operation] of [
    ['gateway', 'POST /api/v1/accounts/*'],
    ['channel-user', 'POST /api/v1/accounts/:accountNo/deposits'],
    ['channel-user', `publish ${prefix()}deposit.requested`],
    ['core-payment', `process ${prefix()}deposit.requested`],
    ['core-payment', `publish ${settledTopic}`],
    ['channel-user', `process ${settledTopic}`],
  ] as const) {
    assert.ok(rowOf(service, operation) !== undefined, `${service} ${operation} in:\n${byTrace.stdout}`);
  }
  // Indented under its parent: the consumer of deposit.requested sits deeper than the request that produced it.
  const depth = (row: string) => /^ *\+\d+ ms +[\d.]+ ms {2}( *)\S/.exec(row)![1]!.length;
  assert.ok(
    depth(rowOf('core-payment', `process ${prefix()}deposit.requested`)!) > depth(rowOf('gateway', 'POST')!),
    byTrace.stdout,
  );
  const byRequest = nuriTrace(requestId);
  assert.equal(byRequest.status, 0, byRequest.stderr);
  assert.match(byRequest.stdout, new RegExp(`trace ${traceId}`));
  assert.equal(nuriTrace('0123456789abcdef0123456789abcdef').status, 1);
});
