import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { ConfigError, configDefaults, loadConfig } from '../../src/config.ts';

const schema = Type.Object({
  NURI_PG_URL: Type.String({ pattern: '^postgres://' }),
  NURI_JWT_SECRET: Type.String({ minLength: 32 }),
  PORT: Type.Integer({ default: 8080, minimum: 1, maximum: 65_535 }),
  NURI_TLS: Type.Boolean({ default: false }),
  NURI_RATIO: Type.Number({ default: 0.5 }),
  NURI_LOG_LEVEL: Type.Union([Type.Literal('info'), Type.Literal('debug')], { default: 'info' }),
  NURI_OPTIONAL: Type.Optional(Type.String()),
});

const validEnv = {
  NURI_PG_URL: 'postgres://db/nuri',
  NURI_JWT_SECRET: 's'.repeat(40),
};

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('when only required variables are set, then defaults fill the rest', () => {
    const config = loadConfig(schema, validEnv);
    assert.deepEqual(config, {
      NURI_PG_URL: 'postgres://db/nuri',
      NURI_JWT_SECRET: 's'.repeat(40),
      PORT: 8080,
      NURI_TLS: false,
      NURI_RATIO: 0.5,
      NURI_LOG_LEVEL: 'info',
    });
  });

  it('when variables are set as strings, then they are converted to the declared types', () => {
    const config = loadConfig(schema, {
      ...validEnv,
      PORT: '9000',
      NURI_TLS: 'true',
      NURI_RATIO: '0.25',
      NURI_LOG_LEVEL: 'debug',
      NURI_OPTIONAL: 'x',
    });
    assert.equal(config.PORT, 9000);
    assert.equal(config.NURI_TLS, true);
    assert.equal(config.NURI_RATIO, 0.25);
    assert.equal(config.NURI_LOG_LEVEL, 'debug');
    assert.equal(config.NURI_OPTIONAL, 'x');
  });

  it('when a boolean is written 1 or 0, then it is accepted', () => {
    assert.equal(loadConfig(schema, { ...validEnv, NURI_TLS: '1' }).NURI_TLS, true);
    assert.equal(loadConfig(schema, { ...validEnv, NURI_TLS: '0' }).NURI_TLS, false);
  });

  it('when a variable is empty, then it counts as unset and its default applies', () => {
    assert.equal(loadConfig(schema, { ...validEnv, PORT: '' }).PORT, 8080);
  });

  it('when the environment holds variables the schema does not declare, then they are not returned', () => {
    const config = loadConfig(schema, { ...validEnv, HOME: '/root' });
    assert.ok(!('HOME' in config));
  });

  it('when several variables are missing or bad, then the error names each of them and why', () => {
    const error = configErrorOf(() =>
      loadConfig(schema, {
        NURI_JWT_SECRET: 'short-secret-value',
        PORT: '1.5',
        NURI_TLS: 'yes',
        NURI_LOG_LEVEL: 'loud',
      }),
    );
    assert.match(error.message, /NURI_PG_URL is required but not set/);
    assert.match(error.message, /NURI_JWT_SECRET must not have fewer than 32 characters/);
    assert.match(error.message, /PORT must be integer/);
    assert.match(error.message, /NURI_TLS must be boolean \(true, false, 1 or 0\)/);
    assert.match(error.message, /NURI_LOG_LEVEL must be one of: info, debug/);
    assert.equal(error.problems.length, 5);
  });

  it('when a value is rejected, then the value itself never appears in the error', () => {
    const secret = 'hunter2-this-is-a-secret';
    const error = configErrorOf(() => loadConfig(schema, { ...validEnv, NURI_PG_URL: secret }));
    assert.match(error.message, /NURI_PG_URL/);
    assert.ok(!error.message.includes(secret));
  });

  it('when an integer is out of range, then the error says which bound', () => {
    const error = configErrorOf(() => loadConfig(schema, { ...validEnv, PORT: '70000' }));
    assert.match(error.message, /PORT must be <= 65535/);
  });
});

describe('configDefaults', () => {
  it('when asked for a schema, then it gives each default and leaves out the variables without one', () => {
    assert.deepEqual(configDefaults(schema), {
      PORT: 8080,
      NURI_TLS: false,
      NURI_RATIO: 0.5,
      NURI_LOG_LEVEL: 'info',
    });
  });
});
