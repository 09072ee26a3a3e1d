import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@nuri/platform/config';
import { loadServiceConfig } from '../../src/config.ts';

describe('core-payment config', () => {
  it('when NURI_INTERNAL_CALLERS is missing, then boot fails naming it', () => {
    assert.throws(
      () => loadServiceConfig({}),
      (error: unknown) => error instanceof ConfigError && error.message.includes('NURI_INTERNAL_CALLERS'),
    );
  });

  it('when only the callers are set, then the consumer groups and batch limits take their defaults', () => {
    const config = loadServiceConfig({ NURI_INTERNAL_CALLERS: `channel-user=${'a'.repeat(32)}` });
    assert.equal(config.NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID, 'core-payment.deposits');
    assert.equal(config.NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID, 'core-payment.payments');
    assert.equal(config.NURI_CORE_PAYMENT_COUPONS_GROUP_ID, 'core-payment.coupons');
    assert.equal(config.NURI_CORE_PAYMENT_DEPOSIT_BATCH_SIZE_MAX, 1_000);
    assert.equal(config.NURI_CORE_PAYMENT_DB, 'nuri_core_payment');
  });

  it('when a batch size is zero or not a number, then boot fails naming it', () => {
    assert.throws(
      () =>
        loadServiceConfig({
          NURI_INTERNAL_CALLERS: `channel-user=${'a'.repeat(32)}`,
          NURI_CORE_PAYMENT_DEPOSIT_BATCH_SIZE_MAX: '0',
        }),
      /NURI_CORE_PAYMENT_DEPOSIT_BATCH_SIZE_MAX/,
    );
  });
});
