import { defaultGroupIdOf } from '@nuri/contracts/consumer-groups';
import { ConfigError, loadConfig } from '@nuri/platform/config';
import { internalAuthConfig, internalCallersConfig } from '@nuri/platform/internal-auth';
import {
  commonConfig,
  kafkaConfig,
  portVariable,
  postgresConfig,
  upstreamUrlsVariable,
} from '@nuri/platform/service';
import { type Static, Type } from 'typebox';
import { parseSigningKeys, type SigningKeyring, SigningKeysError } from './auth/signing-keys.ts';

const upstreamUrl = upstreamUrlsVariable;
const keyId = '[A-Za-z0-9_-]{1,32}';
const pkcs8 = '[A-Za-z0-9_-]{40,200}';
const groupIdPattern = '^[A-Za-z0-9._-]{1,128}$';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...postgresConfig,
  ...kafkaConfig,
  // Its own token proves this service to the core; its callers' tokens guard its /internal routes.
  ...internalAuthConfig,
  ...internalCallersConfig,
  NURI_CHANNEL_USER_PORT: portVariable(8201),
  NURI_CHANNEL_DB: Type.String({ default: 'nuri_channel', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
  NURI_CORE_USER_URL: upstreamUrl('http://127.0.0.1:8101'),
  NURI_CORE_PAYMENT_URL: upstreamUrl('http://127.0.0.1:8102'),
  /** Per attempt of a core call (connect + headers + body); a healthy core answers in milliseconds. */
  NURI_CORE_TIMEOUT_MS: Type.Integer({ default: 800, minimum: 50, maximum: 30_000 }),
  /**
   * A whole core call, retries included: the longest a customer waits for
   * 503 CORE_UNAVAILABLE when the core is down or paused (later calls fail
   * fast once every instance's circuit is open).
   */
  NURI_CORE_DEADLINE_MS: Type.Integer({ default: 1_500, minimum: 50, maximum: 60_000 }),
  /** Keep-alive sockets per core service. */
  NURI_CORE_CONNECTIONS_MAX: Type.Integer({ default: 64, minimum: 1, maximum: 1_024 }),
  /** `kid:base64url(PKCS8 DER of an Ed25519 key)`, comma separated: the active key signs, all verify. */
  NURI_JWT_SIGNING_KEYS: Type.String({ pattern: `^${keyId}:${pkcs8}(,${keyId}:${pkcs8})*$` }),
  NURI_JWT_ACTIVE_KEY_ID: Type.String({ pattern: `^${keyId}$` }),
  NURI_ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ default: 900, minimum: 30, maximum: 3_600 }),
  NURI_REFRESH_TOKEN_TTL_SECONDS: Type.Integer({ default: 14 * 86_400, minimum: 60, maximum: 90 * 86_400 }),
  NURI_CHANNEL_DEPOSITS_GROUP_ID: Type.String({
    default: defaultGroupIdOf('NURI_CHANNEL_DEPOSITS_GROUP_ID'),
    pattern: groupIdPattern,
  }),
  /** Deposits do not NOTIFY (see deposits-repository.ts), so this bounds how long one waits in the outbox. */
  NURI_CHANNEL_OUTBOX_POLL_INTERVAL_MS: Type.Integer({ default: 20, minimum: 1, maximum: 10_000 }),
  NURI_CHANNEL_OUTBOX_BATCH_SIZE_MAX: Type.Integer({ default: 1_000, minimum: 1, maximum: 5_000 }),
  NURI_CHANNEL_DEPOSIT_BATCH_SIZE_MAX: Type.Integer({ default: 1_000, minimum: 1, maximum: 5_000 }),
  /** Accepted deposits written (and committed) together in one statement (db/group-commit.ts). */
  NURI_CHANNEL_DEPOSIT_WRITE_BATCH_SIZE_MAX: Type.Integer({ default: 500, minimum: 1, maximum: 5_000 }),
  /** Deposit writes running at once, each on one pooled connection. */
  NURI_CHANNEL_DEPOSIT_WRITES_IN_FLIGHT_MAX: Type.Integer({ default: 4, minimum: 1, maximum: 64 }),
  /**
   * A deposit still PENDING this long after its request is sent again (the
   * core applies a deposit id once); then after twice as long, up to the max.
   */
  NURI_CHANNEL_DEPOSIT_RESEND_AFTER_MS: Type.Integer({
    default: 60_000,
    minimum: 1_000,
    maximum: 86_400_000,
  }),
  NURI_CHANNEL_DEPOSIT_RESEND_BACKOFF_MAX_MS: Type.Integer({
    default: 3_600_000,
    minimum: 1_000,
    maximum: 86_400_000,
  }),
  NURI_CHANNEL_DEPOSIT_RESEND_SCAN_INTERVAL_MS: Type.Integer({
    default: 10_000,
    minimum: 100,
    maximum: 3_600_000,
  }),
  /** Recipient look-ups (받는 분 확인) per user per minute; past it 429 (docs/api.md). */
  NURI_CHANNEL_RECIPIENT_LOOKUPS_PER_MINUTE: Type.Integer({ default: 30, minimum: 1, maximum: 100_000 }),
  /** Deposits waiting for a write; beyond this a request gets 503 at once. */
  NURI_CHANNEL_DEPOSIT_WRITE_QUEUE_LENGTH_MAX: Type.Integer({
    default: 10_000,
    minimum: 1,
    maximum: 100_000,
  }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const config = loadConfig(ConfigSchema, env);
  signingKeysFromConfig(config);
  return config;
}

/** The JWT keyring; a ConfigError names the variable (never a key) when it does not parse. */
export function signingKeysFromConfig(config: Config): SigningKeyring {
  try {
    return parseSigningKeys(config.NURI_JWT_SIGNING_KEYS, config.NURI_JWT_ACTIVE_KEY_ID);
  } catch (error) {
    if (!(error instanceof SigningKeysError)) throw error;
    throw new ConfigError([`${error.variable} ${error.message}`]);
  }
}
