import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningSystem, startSystem } from '../src/cli/commands/system.ts';
import { loadCliConfig } from '../src/cli/config.ts';
import { services } from '../src/cli/services.ts';

// The whole system as `npm start` runs it (every service its own process),
// on ports of its own so that a developer's running `npm start` is untouched.
const portOffset = 10_000;
const env: NodeJS.ProcessEnv = { ...process.env, NURI_LOG_LEVEL: 'warn' };
for (const service of services) {
  env[service.portVariable] = String(service.defaultPort + portOffset);
  const urlVariable = `NURI_${service.name.toUpperCase().replaceAll('-', '_')}_URL`;
  env[urlVariable] = `http://127.0.0.1:${service.defaultPort + portOffset}`;
}

let system: RunningSystem;

before(async () => {
  system = await startSystem(loadCliConfig(env), env);
});

after(async () => {
  await system?.stop();
});

test('when every service has started, then GET /health through the gateway names each one ok', async () => {
  const response = await fetch(`${system.gatewayUrl}/health`);
  const body = (await response.json()) as { status: string; services: Record<string, string> };
  assert.equal(response.status, 200);
  assert.equal(body.status, 'ok');
  assert.deepEqual(Object.keys(body.services).sort(), services.map((service) => service.name).sort());
  assert.ok(Object.values(body.services).every((state) => state === 'ok'));
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

test('when one service stops, then /health answers 503 naming it and the others stay ok', async () => {
  const coreUserUrl = env.NURI_CORE_USER_URL!;
  await system.stopService('core-user');
  const response = await fetch(`${system.gatewayUrl}/health`);
  const body = (await response.json()) as { status: string; services: Record<string, string> };
  assert.equal(response.status, 503);
  assert.equal(body.services['core-user'], 'unavailable');
  assert.equal(body.services['core-payment'], 'ok');
  await assert.rejects(fetch(`${coreUserUrl}/health/live`));
});
