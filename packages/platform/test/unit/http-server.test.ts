import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpApp, runServer } from '../../src/http.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';

function buildSlowApp(slowMs: number) {
  const logger = createLogger({ name: 'test', level: 'silent' });
  const app = createHttpApp({ name: 'test', logger, metrics: createMetrics('test') });
  const started = Promise.withResolvers<void>();
  const events: string[] = [];
  app.addHook('onResponse', async (request, reply) => void events.push(`${request.url} ${reply.statusCode}`));
  app.get('/slow', async () => {
    started.resolve();
    await sleep(slowMs);
    return { done: true };
  });
  return { app, events, slowRequestStarted: started.promise };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// A broken drain hangs rather than fails; the limit turns that into a failure.
const hangLimit = { timeout: 5_000 };

describe('runServer', () => {
  it(
    'when shut down during a slow request, then it is answered, readiness and new work get 503, hooks run in order after the drain, and the exit code is 0',
    hangLimit,
    async () => {
      const { app, events, slowRequestStarted } = buildSlowApp(300);
      const exitCodes: number[] = [];
      const handle = await runServer(app, {
        host: '127.0.0.1',
        port: 0,
        signals: [],
        exit: (code) => void exitCodes.push(code),
        // As the supervisor says through NURI_INSTANCE_RESTARTS.
        instanceRestarts: 2,
        onShutdown: [
          async () => void events.push('consumers stopped'),
          async () => void events.push('pool closed'),
        ],
      });
      assert.ok(handle.port > 0);

      const inFlight = fetch(`http://127.0.0.1:${handle.port}/slow`).then(async (response) => ({
        status: response.status,
        body: await response.json(),
      }));
      await slowRequestStarted;
      const shutdown = handle.shutdown('test');
      // Injected before close() progresses: Fastify refuses inject once closed.
      const [readyDuringDrain, newWorkDuringDrain] = await Promise.all([
        app.inject({ method: 'GET', url: '/health/ready' }),
        app.inject({ method: 'GET', url: '/slow' }),
      ]);

      assert.deepEqual(await inFlight, { status: 200, body: { done: true } });
      assert.equal(await shutdown, 0);
      assert.equal(readyDuringDrain.statusCode, 503);
      const { instance, ...readiness } = readyDuringDrain.json();
      assert.deepEqual(readiness, { status: 'unavailable', checks: { shutdown: 'fail' } });
      assert.equal(instance.pid, process.pid, 'a draining instance still says which process it is');
      assert.equal(instance.restarts, 2);
      assert.equal(newWorkDuringDrain.statusCode, 503);
      assert.equal(newWorkDuringDrain.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(newWorkDuringDrain.json().code, 'SERVICE_UNAVAILABLE');
      assert.equal(newWorkDuringDrain.headers['nuri-draining'], '1', 'a balancer may send it elsewhere');
      assert.deepEqual(events, [
        '/health/ready 503',
        '/slow 503',
        '/slow 200',
        'consumers stopped',
        'pool closed',
      ]);
      assert.deepEqual(exitCodes, [0]);
      await assert.rejects(
        fetch(`http://127.0.0.1:${handle.port}/health/live`),
        'no longer accepting connections',
      );
    },
  );

  it(
    'when two instances share a port and each has its own, then both serve the shared one and each drains both on shutdown',
    hangLimit,
    async () => {
      const instances = [buildSlowApp(0), buildSlowApp(0)];
      for (const [index, { app }] of instances.entries()) app.get('/who', async () => ({ index }));
      const ownPorts = [await freePort(), await freePort()];
      const first = await runServer(instances[0]!.app, {
        host: '127.0.0.1',
        port: 0,
        reusePort: true,
        extraPort: ownPorts[0]!,
        signals: [],
        exit: () => {},
      });
      const second = await runServer(instances[1]!.app, {
        host: '127.0.0.1',
        port: first.port,
        reusePort: true,
        extraPort: ownPorts[1]!,
        signals: [],
        exit: () => {},
      });
      const seen = new Set<number>();
      for (let attempt = 0; attempt < 40 && seen.size < 2; attempt += 1) {
        const response = await fetch(`http://127.0.0.1:${first.port}/who`, {
          headers: { connection: 'close' },
        });
        seen.add(((await response.json()) as { index: number }).index);
      }
      assert.equal(seen.size, 2, 'the kernel spread connections over both');
      for (const [index, port] of ownPorts.entries()) {
        const response = await fetch(`http://127.0.0.1:${port}/who`);
        assert.deepEqual(await response.json(), { index });
      }
      assert.equal(await first.shutdown(), 0);
      await assert.rejects(fetch(`http://127.0.0.1:${ownPorts[0]}/who`), 'its own port is closed');
      const stillServed = await fetch(`http://127.0.0.1:${first.port}/who`, {
        headers: { connection: 'close' },
      });
      assert.deepEqual(await stillServed.json(), { index: 1 });
      assert.equal(await second.shutdown(), 0);
    },
  );

  it('when a shutdown hook fails, then later hooks still run and the exit code is 1', hangLimit, async () => {
    const { app } = buildSlowApp(0);
    const ran: string[] = [];
    const exitCodes: number[] = [];
    const handle = await runServer(app, {
      host: '127.0.0.1',
      port: 0,
      signals: [],
      exit: (code) => void exitCodes.push(code),
      onShutdown: [
        async () => {
          throw new Error('consumer would not stop');
        },
        async () => void ran.push('pool closed'),
      ],
    });
    assert.equal(await handle.shutdown(), 1);
    assert.deepEqual(ran, ['pool closed']);
    assert.deepEqual(exitCodes, [1]);
  });

  it('when draining takes longer than the shutdown timeout, then exit 1 is forced', hangLimit, async () => {
    const { app, slowRequestStarted } = buildSlowApp(400);
    const exitCodes: number[] = [];
    const handle = await runServer(app, {
      host: '127.0.0.1',
      port: 0,
      signals: [],
      shutdownTimeoutMs: 50,
      exit: (code) => void exitCodes.push(code),
    });
    const inFlight = fetch(`http://127.0.0.1:${handle.port}/slow`);
    await slowRequestStarted;
    const shutdown = handle.shutdown();
    await sleep(150);
    assert.deepEqual(exitCodes, [1], 'forced exit before the drain finished');
    await inFlight;
    assert.equal(await shutdown, 0);
    assert.deepEqual(exitCodes, [1], 'the drain finishing later does not exit again');
  });

  it(
    'when a signal arrives, then the server shuts down, and a second signal forces exit 1',
    hangLimit,
    async () => {
      const { app, slowRequestStarted } = buildSlowApp(200);
      const exitCodes: number[] = [];
      const listenersBefore = process.listenerCount('SIGHUP');
      const handle = await runServer(app, {
        host: '127.0.0.1',
        port: 0,
        signals: ['SIGHUP'],
        exit: (code) => void exitCodes.push(code),
      });
      const inFlight = fetch(`http://127.0.0.1:${handle.port}/slow`);
      await slowRequestStarted;
      process.kill(process.pid, 'SIGHUP');
      await sleep(20);
      process.kill(process.pid, 'SIGHUP');
      await sleep(20);
      assert.deepEqual(exitCodes, [1], 'second signal forces exit');
      assert.equal((await inFlight).status, 200);
      assert.equal(await handle.shutdown(), 0, 'the first signal started the drain, which completes');
      assert.deepEqual(exitCodes, [1], 'the forced exit is not overruled by the drain finishing');
      assert.equal(process.listenerCount('SIGHUP'), listenersBefore, 'signal listeners are removed');
    },
  );
});
