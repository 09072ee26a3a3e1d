import { ConfigError, loadConfig } from '@nuri/platform/config';
import {
  type InternalCallers,
  internalCallersConfig,
  parseInternalCallers,
} from '@nuri/platform/internal-auth';
import { commonConfig, portVariable, postgresConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';
import { decodeKey256, KeyringError, type PiiKeyring, parsePiiKeyring } from './crypto/pii-cipher.ts';

// Secrets have no default: a service that silently ran with a made-up key
// would write data nobody can read later. Their formats are those that
// `nuri` generates (src/cli/secrets.ts).
const keyId = '[A-Za-z0-9_-]{1,32}';
const key256 = '[A-Za-z0-9_-]{43}';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...postgresConfig,
  ...internalCallersConfig,
  NURI_CORE_USER_PORT: portVariable(8101),
  NURI_CORE_USER_DB: Type.String({ default: 'nuri_core_user', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
  /** `kid:base64url(32 bytes)`, comma separated: the active key encrypts, all decrypt. */
  NURI_PII_KEYS: Type.String({ pattern: `^${keyId}:${key256}(,${keyId}:${key256})*$` }),
  NURI_PII_ACTIVE_KEY_ID: Type.String({ pattern: `^${keyId}$` }),
  /** Registration attempts per RRN (whatever the name) per hour: a legal name cannot be found by trying names. */
  NURI_CORE_USER_REGISTRATION_ATTEMPTS_PER_HOUR: Type.Integer({ default: 10, minimum: 1, maximum: 10_000 }),
  /** base64url(32 bytes): the HMAC key of the RRN blind index. */
  NURI_BLIND_INDEX_KEY: Type.String({ pattern: `^${key256}$` }),
});

export type Config = Static<typeof ConfigSchema>;

export type Secrets = { internalCallers: InternalCallers; piiKeyring: PiiKeyring; blindIndexKey: Buffer };

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const config = loadConfig(ConfigSchema, env);
  secretsFromConfig(config);
  return config;
}

/** The keys in usable form; throws ConfigError naming the variable (never its value) when one does not parse. */
export function secretsFromConfig(config: Config): Secrets {
  const blindIndexKey = decodeKey256(config.NURI_BLIND_INDEX_KEY);
  if (blindIndexKey === undefined)
    throw new ConfigError(['NURI_BLIND_INDEX_KEY must be base64url of 32 bytes']);
  return {
    internalCallers: parseInternalCallers(config.NURI_INTERNAL_CALLERS),
    piiKeyring: keyringFromConfig(config),
    blindIndexKey,
  };
}

function keyringFromConfig(config: Config): PiiKeyring {
  try {
    return parsePiiKeyring(config.NURI_PII_KEYS, config.NURI_PII_ACTIVE_KEY_ID);
  } catch (error) {
    if (!(error instanceof KeyringError)) throw error;
    if (error.subject === 'activeKeyId') {
      throw new ConfigError(['NURI_PII_ACTIVE_KEY_ID must name one of the key ids in NURI_PII_KEYS']);
    }
    throw new ConfigError([`NURI_PII_KEYS ${error.message}`]);
  }
}
