import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../src/testing.ts';
import {
  createUpstream,
  drainingHeader,
  parseUrlList,
  type Upstream,
  UpstreamUnavailableError,
  unavailableStatus,
} from '../../src/upstream.ts';

// Real sockets on loopback: each "instance" is an HTTP server in this process
// that a test can slow down, break, close (connection refused) and reopen.

interface Instance {
  url: string;
  port: number;
  /** Requests that reached the handler, probes excluded. */
  hits: number;
  ready: boolean;
  handle: (request: IncomingMessage, response: ServerResponse) => void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const opened: Array<{ stop(): Promise<void> } | Upstream> = [];
after(async () => {
  for (const item of opened) await ('request' in item ? item.close() : item.stop());
});

const answerOk = (name: string) => (_request: IncomingMessage, response: ServerResponse) => {
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ from: name }));
};

async function startInstance(name: string): Promise<Instance> {
  let server: Server | undefined;
  const instance: Instance = {
    url: '',
    port: 0,
    hits: 0,
    ready: true,
    handle: answerOk(name),
    async start() {
      server = createServer((request, response) => {
        request.resume();
        request.on('end', () => {
          if (request.url === '/health/ready') {
            response.writeHead(instance.ready ? 200 : 503).end();
            return;
          }
          instance.hits += 1;
          instance.handle(request, response);
        });
      });
      await new Promise<void>((resolve) => server!.listen(instance.port, '127.0.0.1', resolve));
      instance.port = (server.address() as AddressInfo).port;
      instance.url = `http://127.0.0.1:${instance.port}`;
    },
    async stop() {
      if (server === undefined) return;
      const closing = server;
      server = undefined;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
  await instance.start();
  opened.push(instance);
  return instance;
}

function upstreamOver(instances: Instance[], overrides: Partial<Parameters<typeof createUpstream>[0]> = {}) {
  const upstream = createUpstream({
    name: 'svc',
    urls: instances.map((instance) => instance.url),
    connectionsMax: 16,
    attemptTimeoutMs: 500,
    ejectionMs: 200,
    probe: { intervalMs: 50, timeoutMs: 200 },
    ...overrides,
  });
  opened.push(upstream);
  return upstream;
}

const get = (upstream: Upstream, retriesMax = 1) =>
  upstream.request({ method: 'GET', path: '/x', retriesMax });
const post = (upstream: Upstream, retriesMax = 0) =>
  upstream.request({ method: 'POST', path: '/x', body: '{}', retriesMax });

test('when URLs are listed with commas, spaces or trailing slashes, then each becomes one base URL', () => {
  assert.deepEqual(parseUrlList('http://a:1, http://b:2/,'), ['http://a:1', 'http://b:2']);
});

test('when every instance is ready, then requests are spread over all of them', async () => {
  const instances = await Promise.all([startInstance('a'), startInstance('b'), startInstance('c')]);
  const upstream = upstreamOver(instances);
  for (let index = 0; index < 30; index += 1) assert.equal((await get(upstream)).status, 200);
  assert.deepEqual(
    instances.map((instance) => instance.hits),
    [10, 10, 10],
  );
});

test('when one instance is slow, then least-outstanding sends it fewer of the concurrent requests', async () => {
  const [slow, fast] = await Promise.all([startInstance('slow'), startInstance('fast')]);
  slow.handle = (_request, response) => void sleep(100).then(() => response.writeHead(200).end('{}'));
  const upstream = upstreamOver([slow, fast]);
  // Eight clients, each sending its next request when the last one is answered.
  const client = async () => {
    for (let index = 0; index < 5; index += 1) await get(upstream);
  };
  await Promise.all(Array.from({ length: 8 }, client));
  assert.ok(fast.hits > slow.hits * 2, `fast ${fast.hits}, slow ${slow.hits}`);
});

test('when an instance refuses connections, then a POST without a key still lands on another one, and the dead one is taken out', async () => {
  const [dead, alive] = await Promise.all([startInstance('dead'), startInstance('alive')]);
  const upstream = upstreamOver([dead, alive]);
  await upstream.firstProbe();
  await dead.stop();
  for (let index = 0; index < 6; index += 1) assert.equal((await post(upstream)).status, 200);
  assert.equal(alive.hits, 6);
  assert.deepEqual(
    upstream.instances().map((instance) => instance.ready),
    [false, true],
  );
});

test('when a dead instance listens again, then a passing probe brings it back into rotation', async () => {
  const [restarted, other] = await Promise.all([startInstance('restarted'), startInstance('other')]);
  const upstream = upstreamOver([restarted, other]);
  await restarted.stop();
  await waitUntil('the dead instance taken out', () => upstream.readyCount() === 1, 5_000);
  await restarted.start();
  await waitUntil('the instance back in', () => upstream.readyCount() === 2, 5_000);
  restarted.hits = 0;
  for (let index = 0; index < 10; index += 1) await get(upstream);
  assert.ok(restarted.hits > 0);
});

test('when an instance drops the connection after reading a request, then only a request safe to repeat is sent again', async () => {
  const [broken, healthy] = await Promise.all([startInstance('broken'), startInstance('healthy')]);
  broken.handle = (request) => request.socket.destroy();
  const upstream = upstreamOver([broken, healthy], { ejectAfterFailures: 100 });
  await upstream.firstProbe();
  // Round robin over equal loads alternates the first pick: one of two requests starts on the broken one.
  const unsafe = await Promise.allSettled([post(upstream, 0), post(upstream, 0)]);
  const refused = unsafe.filter((outcome) => outcome.status === 'rejected');
  assert.equal(refused.length, 1);
  const failure = (refused[0] as PromiseRejectedResult).reason;
  assert.ok(failure instanceof UpstreamUnavailableError);
  assert.equal(failure.reason, 'interrupted', 'the request went out: its outcome is unknown');
  const safe = await Promise.all([post(upstream, 1), post(upstream, 1)]);
  assert.deepEqual(
    safe.map((answer) => answer.status),
    [200, 200],
  );
});

test('when an instance answers that it is draining, then the request goes to another and the draining one is taken out', async () => {
  const [draining, next] = await Promise.all([startInstance('draining'), startInstance('next')]);
  draining.handle = (_request, response) => response.writeHead(503, { [drainingHeader]: '1' }).end('{}');
  const upstream = upstreamOver([draining, next]);
  await upstream.firstProbe();
  const answers = await Promise.all([post(upstream, 0), post(upstream, 0)]);
  assert.deepEqual(
    answers.map((answer) => answer.status),
    [200, 200],
  );
  assert.equal(upstream.instances()[0]!.ready, false);
});

test('when an instance answers 500 to one kind of request, then it stays in rotation and the 500 is not retried; 503s take it out', async () => {
  const [buggy, other] = await Promise.all([startInstance('buggy'), startInstance('other')]);
  buggy.handle = (_request, response) => response.writeHead(500).end('{}');
  other.handle = (_request, response) => response.writeHead(500).end('{}');
  // Probes off: only the answers could take an instance out.
  const upstream = upstreamOver([buggy, other], { ejectionMs: 60_000, probe: { intervalMs: 0 } });
  const keyed = () =>
    upstream.request({
      method: 'POST',
      path: '/x',
      body: '{}',
      retriesMax: 1,
      isFailureStatus: unavailableStatus,
    });
  for (let index = 0; index < 8; index += 1) assert.equal((await keyed()).status, 500);
  assert.equal(buggy.hits + other.hits, 8, 'each 500 answered once, not retried on the other instance');
  assert.equal(upstream.readyCount(), 2, 'a request that fails is not an instance that fails');
  buggy.handle = (_request, response) => response.writeHead(503).end('{}');
  other.handle = answerOk('other');
  const buggyHitsBefore = buggy.hits;
  for (let index = 0; index < 6; index += 1) {
    const answer = await keyed();
    assert.equal(answer.status, 200);
    // A 503 first was answered (the instance did not carry it out): nothing was lost before this answer.
    assert.equal(answer.afterLostAttempt, undefined, `request ${index}`);
  }
  assert.equal(buggy.hits - buggyHitsBefore, 3, 'three of them met a 503 first');
  assert.equal(upstream.readyCount(), 1, 'three 503s in a row eject');
  other.handle = (_request, response) => response.writeHead(503).end('{}');
  await assert.rejects(
    upstream.request({ method: 'POST', path: '/x', body: '{}', isFailureStatus: unavailableStatus }),
    (error: UpstreamUnavailableError) => error.reason === 'unavailable',
    'an instance that answered it could not serve the request did not carry it out',
  );
});

test('when an instance hangs, then attempts time out, it is ejected after three, and later requests skip it without waiting', async () => {
  const [hung, fine] = await Promise.all([startInstance('hung'), startInstance('fine')]);
  hung.handle = () => undefined;
  // Probes off: only the failed attempts can take it out.
  const upstream = upstreamOver([hung, fine], {
    attemptTimeoutMs: 150,
    requestDeadlineMs: 1_000,
    ejectionMs: 60_000,
    probe: { intervalMs: 0 },
  });
  const afterTimeouts: boolean[] = [];
  for (let index = 0; index < 6; index += 1) {
    const hitsBefore = hung.hits;
    const answer = await get(upstream, 1);
    assert.equal(answer.status, 200);
    // An attempt that timed out may have been carried out: the answer after it says so.
    assert.equal(answer.afterLostAttempt === true, hung.hits > hitsBefore, `request ${index}`);
    afterTimeouts.push(answer.afterLostAttempt === true);
  }
  assert.equal(afterTimeouts.filter(Boolean).length, 3);
  assert.equal(hung.hits, 3);
  assert.equal(upstream.readyCount(), 1);
  const started = Date.now();
  for (let index = 0; index < 5; index += 1) assert.equal((await post(upstream)).status, 200);
  assert.ok(Date.now() - started < 150, `took ${Date.now() - started} ms`);
  assert.equal(hung.hits, 3);
});

test('when a hung instance also fails its readiness probe, then the probes take it out before any request waits on it', async () => {
  const [hung, fine] = await Promise.all([startInstance('hung'), startInstance('fine')]);
  hung.handle = () => undefined;
  hung.ready = false;
  const upstream = upstreamOver([hung, fine]);
  await waitUntil('the hung instance out', () => upstream.readyCount() === 1, 5_000);
  const started = Date.now();
  for (let index = 0; index < 5; index += 1) assert.equal((await post(upstream)).status, 200);
  assert.ok(Date.now() - started < 150, `took ${Date.now() - started} ms`);
  assert.equal(hung.hits, 0);
});

test('when every instance is out, then a request fails at once with UpstreamUnavailableError', async () => {
  const [only] = await Promise.all([startInstance('only')]);
  const upstream = upstreamOver([only]);
  await only.stop();
  await assert.rejects(get(upstream), UpstreamUnavailableError);
  const started = Date.now();
  await assert.rejects(get(upstream), (error: UpstreamUnavailableError) => error.reason === 'unavailable');
  assert.ok(Date.now() - started < 50);
});

test('when the only instance is slower than the deadline, then the error says timeout', async () => {
  const [slow] = await Promise.all([startInstance('slow')]);
  slow.handle = (_request, response) => void sleep(400).then(() => response.writeHead(200).end('{}'));
  const upstream = upstreamOver([slow], { attemptTimeoutMs: 100, requestDeadlineMs: 250 });
  await assert.rejects(get(upstream, 3), (error: UpstreamUnavailableError) => error.reason === 'timeout');
});
