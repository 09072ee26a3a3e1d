import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@nuri/platform/config';
import { loadServiceConfig, longestSendMs } from '../../src/config.ts';

const secrets = {
  NURI_INTERNAL_TOKEN: 'i'.repeat(32),
  NURI_INTERNAL_CALLERS: `ops=${'o'.repeat(32)}`,
  NURI_ADMIN_TOKEN: 'a'.repeat(32),
};

test('when the defaults are used, then the recovery grace period exceeds the longest send', () => {
  const config = loadServiceConfig(secrets);
  assert.equal(longestSendMs(config), 500 + 5_000 + 4 * 5_000 + 3 * 250);
  assert.ok(config.NURI_COUPON_REBUILD_SETTLE_MS > longestSendMs(config));
  assert.ok(config.NURI_COUPON_RECOVERY_GRACE_MS > longestSendMs(config));
});

test('when the grace period is shorter than a send can take, then the service refuses to start, naming both', () => {
  assert.throws(
    () => loadServiceConfig({ ...secrets, NURI_COUPON_RECOVERY_GRACE_MS: '10000' }),
    (error: Error) =>
      error instanceof ConfigError &&
      /NURI_COUPON_RECOVERY_GRACE_MS \(10000\) must exceed the longest send, 26250 ms/.test(error.message),
  );
  assert.throws(
    () => loadServiceConfig({ ...secrets, NURI_COUPON_SEND_TIMEOUT_MS: '9000' }),
    /NURI_COUPON_REBUILD_SETTLE_MS \(30000\) must exceed the longest send, 42250 ms/,
  );
});
