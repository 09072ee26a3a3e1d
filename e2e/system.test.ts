import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { services } from '../src/cli/services.ts';
import { startTestSystem, type TestSystem } from './harness.ts';

let system: TestSystem;

before(async () => {
  system = await startTestSystem();
});

after(async () => {
  await system?.shutdown();
});

test('when every service has started, then GET /health through the gateway names each one ok with its instances', async () => {
  const response = await fetch(`${system.gatewayUrl}/health`);
  const body = (await response.json()) as {
    status: string;
    services: Record<string, string>;
    instances: Record<string, { ready: number; total: number }>;
  };
  assert.equal(response.status, 200);
  assert.equal(body.status, 'ok');
  assert.deepEqual(Object.keys(body.services).sort(), services.map((service) => service.name).sort());
  assert.ok(Object.values(body.services).every((state) => state === 'ok'));
  for (const service of services) assert.deepEqual(body.instances[service.name], { ready: 1, total: 1 });
  assert.ok(response.headers.get('x-request-id'));
});

test('when a path is not part of the public API, then the gateway answers 404 problem+json and forwards nothing', async () => {
  for (const path of ['/internal/v1/users', '/nope']) {
    const response = await fetch(`${system.gatewayUrl}${path}`);
    const body = (await response.json()) as { code: string; status: number };
    assert.equal(response.status, 404);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(body.code, 'NOT_FOUND');
  }
});

test('when one service stops, then /health answers 503 naming it within a probe interval and the others stay ok', async () => {
  const coreUserUrl = system.env.NURI_CORE_USER_URL!;
  await system.stopService('core-user');
  type Health = {
    status: string;
    services: Record<string, string>;
    instances: Record<string, { ready: number }>;
  };
  let answer: { status: number; body: Health } | undefined;
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${system.gatewayUrl}/health`);
    answer = { status: response.status, body: (await response.json()) as Health };
    if (answer.status === 503) break;
    await sleep(100);
  }
  assert.equal(answer?.status, 503);
  assert.equal(answer.body.services['core-user'], 'unavailable');
  assert.deepEqual(answer.body.instances['core-user'], { ready: 0, total: 1 });
  assert.equal(answer.body.services['core-payment'], 'ok');
  await assert.rejects(fetch(`${coreUserUrl}/health/live`));
  assert.equal(system.supervisor.status('core-user').state, 'stopped', 'stopped on purpose, not restarted');
});

test('when a service cannot start, then it crash-loops and starting the system fails naming it and quoting its last lines', async () => {
  // Something else holds the port point wants: it passes migrations, then dies on listen.
  const squatter = createServer();
  await new Promise<void>((resolveListen) => squatter.listen(0, '127.0.0.1', resolveListen));
  const port = (squatter.address() as AddressInfo).port;
  try {
    await assert.rejects(
      startTestSystem({ envOverrides: { NURI_POINT_PORT: String(port) }, onOutputLine: () => undefined }),
      (error: Error) => {
        assert.match(error.message, /point is crash-looping \(\d+ exits while starting\); its last lines:/);
        assert.match(error.message, /EADDRINUSE/);
        return true;
      },
    );
  } finally {
    squatter.close();
  }
});
