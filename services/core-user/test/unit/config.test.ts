import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError } from '@nuri/platform/config';
import { loadServiceConfig, secretsFromConfig } from '../../src/config.ts';

const key = () => randomBytes(32).toString('base64url');

function validEnv(): Record<string, string> {
  return {
    NURI_INTERNAL_CALLERS: `channel-user=${key()}`,
    NURI_PII_KEYS: `k1:${key()},k2:${key()}`,
    NURI_PII_ACTIVE_KEY_ID: 'k2',
    NURI_BLIND_INDEX_KEY: key(),
  };
}

function problemsOf(env: Record<string, string>): string {
  try {
    loadServiceConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('core-user config', () => {
  it('when every secret is set in its generated format, then the keys come out usable', () => {
    const env = validEnv();
    const secrets = secretsFromConfig(loadServiceConfig(env));
    assert.deepEqual(secrets.internalCallers, { 'channel-user': env.NURI_INTERNAL_CALLERS!.split('=')[1] });
    assert.equal(secrets.piiKeyring.activeKeyId, 'k2');
    assert.deepEqual([...secrets.piiKeyring.keys.keys()], ['k1', 'k2']);
    assert.equal(secrets.blindIndexKey.length, 32);
  });

  it('when the secrets are missing, then each is named as required (no defaults)', () => {
    const message = problemsOf({});
    for (const name of [
      'NURI_INTERNAL_CALLERS',
      'NURI_PII_KEYS',
      'NURI_PII_ACTIVE_KEY_ID',
      'NURI_BLIND_INDEX_KEY',
    ]) {
      assert.match(message, new RegExp(`${name} is required`));
    }
  });

  it('when a secret has the wrong length or format, then the variable is named and its value is not shown', () => {
    const env = validEnv();
    const bad = {
      ...env,
      NURI_INTERNAL_CALLERS: 'channel-user=short-token',
      NURI_BLIND_INDEX_KEY: env.NURI_BLIND_INDEX_KEY!.slice(2),
      NURI_PII_KEYS: `k1=${key()}`,
    };
    const message = problemsOf(bad);
    for (const name of ['NURI_INTERNAL_CALLERS', 'NURI_BLIND_INDEX_KEY', 'NURI_PII_KEYS'])
      assert.match(message, new RegExp(name));
    for (const value of Object.values(bad)) assert.equal(message.includes(value), false);
  });

  it('when the active key id names no key of the keyring, then NURI_PII_ACTIVE_KEY_ID is named', () => {
    assert.match(
      problemsOf({ ...validEnv(), NURI_PII_ACTIVE_KEY_ID: 'k9' }),
      /NURI_PII_ACTIVE_KEY_ID must name/,
    );
  });

  it('when a key id repeats, then NURI_PII_KEYS is named', () => {
    const k = key();
    assert.match(
      problemsOf({ ...validEnv(), NURI_PII_KEYS: `k1:${k},k1:${key()}`, NURI_PII_ACTIVE_KEY_ID: 'k1' }),
      /NURI_PII_KEYS entry 2 repeats/,
    );
  });
});
