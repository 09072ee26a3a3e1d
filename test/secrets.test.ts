import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseInternalCallers } from '@nuri/platform/internal-auth';
import { loadServiceConfig as channelUserConfig } from '../services/channel-user/src/config.ts';
import { loadServiceConfig as corePaymentConfig } from '../services/core-payment/src/config.ts';
import { loadServiceConfig as coreUserConfig } from '../services/core-user/src/config.ts';
import { loadServiceConfig as couponConfig } from '../services/coupon/src/config.ts';
import { loadServiceConfig as gatewayConfig } from '../services/gateway/src/config.ts';
import { loadServiceConfig as pointConfig } from '../services/point/src/config.ts';
import { ensureDevSecrets, internalTokenVariable, serviceEnvironment } from '../src/cli/secrets.ts';
import { services } from '../src/cli/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'nuri-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const secrets = ensureDevSecrets(join(dir, 'dev'));
const all = { ...secrets, PATH: '/usr/bin', NURI_LOG_LEVEL: 'info' };
const spec = (name: string) => services.find((service) => service.name === name)!;
const envOf = (name: string) => serviceEnvironment(spec(name), all);

/** Which generated secret each service may hold; nothing else generated reaches it. */
const expectedSecrets: Record<string, string[]> = {
  'core-user': ['NURI_PII_KEYS', 'NURI_PII_ACTIVE_KEY_ID', 'NURI_BLIND_INDEX_KEY'],
  'core-payment': [],
  'channel-user': ['NURI_JWT_SIGNING_KEYS', 'NURI_JWT_ACTIVE_KEY_ID'],
  point: [],
  coupon: ['NURI_ADMIN_TOKEN'],
  // It answers the operator console's admin APIs itself.
  gateway: ['NURI_ADMIN_TOKEN'],
};

test('when a service is started, then it receives only its own secrets, and no other secret value appears anywhere in its environment', () => {
  for (const service of services) {
    const env = envOf(service.name);
    const expected = expectedSecrets[service.name];
    assert.ok(expected !== undefined, `${service.name} is listed here`);
    for (const [name, value] of Object.entries(secrets)) {
      const own = expected.includes(name);
      assert.equal(env[name], own ? value : undefined, `${service.name} ${name}`);
      // Not under another name either (NURI_INTERNAL_TOKEN, NURI_INTERNAL_CALLERS).
      const ownToken = name === internalTokenVariable(service.name);
      const callerToken =
        service.internalCallers?.some((caller) => name === internalTokenVariable(caller)) ?? false;
      if (own || ownToken || callerToken || value.length < 16) continue;
      for (const [other, text] of Object.entries(env)) {
        assert.equal(String(text).includes(value), false, `${service.name} sees ${name} in ${other}`);
      }
    }
    assert.equal(env.PATH, '/usr/bin', 'everything that is not a secret passes');
  }
});

test('when services call each other, then each presents its own token and accepts exactly its callers', () => {
  const token = (caller: string) => secrets[internalTokenVariable(caller)]!;
  assert.equal(envOf('channel-user').NURI_INTERNAL_TOKEN, token('channel-user'));
  assert.equal(envOf('point').NURI_INTERNAL_TOKEN, token('point'));
  assert.equal(envOf('coupon').NURI_INTERNAL_TOKEN, token('coupon'));
  assert.equal(
    envOf('gateway').NURI_INTERNAL_TOKEN,
    token('gateway'),
    'the console reads services as itself',
  );
  for (const service of ['core-user', 'core-payment']) {
    assert.equal(envOf(service).NURI_INTERNAL_TOKEN, undefined, `${service} calls no internal route`);
  }
  const callersOf = (service: string) => parseInternalCallers(envOf(service).NURI_INTERNAL_CALLERS ?? '');
  assert.deepEqual(callersOf('core-user'), { 'channel-user': token('channel-user') });
  assert.deepEqual(callersOf('core-payment'), {
    'channel-user': token('channel-user'),
    coupon: token('coupon'),
    ops: token('ops'),
  });
  assert.deepEqual(callersOf('channel-user'), {
    point: token('point'),
    ops: token('ops'),
    gateway: token('gateway'),
  });
  assert.deepEqual(callersOf('point'), { ops: token('ops'), gateway: token('gateway') });
  assert.deepEqual(callersOf('coupon'), { ops: token('ops'), gateway: token('gateway') });
  assert.equal(envOf('gateway').NURI_INTERNAL_CALLERS, undefined);
  const distinct = new Set(['channel-user', 'point', 'coupon', 'ops', 'gateway'].map(token));
  assert.equal(distinct.size, 5, 'every caller has a token of its own');
});

test('when each service loads its configuration from its share alone, then it boots (nothing it needs was withheld)', () => {
  assert.doesNotThrow(() => coreUserConfig(envOf('core-user')));
  assert.doesNotThrow(() => corePaymentConfig(envOf('core-payment')));
  assert.doesNotThrow(() => channelUserConfig(envOf('channel-user')));
  assert.doesNotThrow(() => pointConfig(envOf('point')));
  assert.doesNotThrow(() => couponConfig(envOf('coupon')));
  assert.doesNotThrow(() => gatewayConfig(envOf('gateway')));
});

test('when the caller environment sets a stray NURI_INTERNAL_TOKEN or NURI_INTERNAL_CALLERS, then no service inherits it', () => {
  const stray = {
    ...all,
    NURI_INTERNAL_TOKEN: 'x'.repeat(40),
    NURI_INTERNAL_CALLERS: `ops=${'y'.repeat(40)}`,
  };
  assert.equal(serviceEnvironment(spec('core-payment'), stray).NURI_INTERNAL_TOKEN, undefined);
  assert.notEqual(
    serviceEnvironment(spec('point'), stray).NURI_INTERNAL_CALLERS,
    stray.NURI_INTERNAL_CALLERS,
  );
});

test('when the secrets folder or file was opened to others, then reading them closes them again and keeps the secrets', () => {
  const folder = join(dir, 'dev');
  chmodSync(folder, 0o755);
  chmodSync(join(folder, 'secrets.env'), 0o644);
  const again = ensureDevSecrets(folder);
  assert.deepEqual(again, secrets, 'nothing regenerated');
  assert.equal(statSync(folder).mode & 0o777, 0o700);
  assert.equal(statSync(join(folder, 'secrets.env')).mode & 0o777, 0o600);
});

test('when a fresh folder is made, then it is 700 and the file 600', () => {
  const folder = join(dir, 'fresh');
  ensureDevSecrets(folder);
  assert.equal(statSync(folder).mode & 0o777, 0o700);
  assert.equal(statSync(join(folder, 'secrets.env')).mode & 0o777, 0o600);
});
