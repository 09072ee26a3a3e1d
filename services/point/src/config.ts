import { defaultGroupIdOf } from '@nuri/contracts/consumer-groups';
import { topics } from '@nuri/contracts/events';
import { loadConfig } from '@nuri/platform/config';
import { internalAuthConfig, internalCallersConfig } from '@nuri/platform/internal-auth';
import {
  commonConfig,
  kafkaConfig,
  mysqlConfig,
  portVariable,
  upstreamUrlsVariable,
} from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

const topicPattern = '^[A-Za-z0-9._-]{1,249}$';
const groupIdPattern = '^[A-Za-z0-9._-]{1,128}$';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...mysqlConfig,
  ...kafkaConfig,
  ...internalAuthConfig,
  ...internalCallersConfig,
  NURI_POINT_PORT: portVariable(8202),
  NURI_POINT_DB: Type.String({ default: 'nuri_point', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
  /** channel-user's instances: account links, and the JWKS that verifies access tokens. */
  NURI_CHANNEL_USER_URL: upstreamUrlsVariable('http://127.0.0.1:8201'),
  NURI_POINT_ACCOUNT_CHECK_TIMEOUT_MS: Type.Integer({ default: 2_000, minimum: 50, maximum: 30_000 }),
  /** Links only ever confirmed are cached; the core re-checks ownership at the cash debit anyway. 0 disables. */
  NURI_POINT_ACCOUNT_LINK_CACHE_TTL_MS: Type.Integer({ default: 30_000, minimum: 0, maximum: 3_600_000 }),
  NURI_POINT_PAYMENT_REQUESTED_TOPIC: Type.String({
    default: topics.paymentRequested,
    pattern: topicPattern,
  }),
  NURI_POINT_PAYMENT_SETTLED_TOPIC: Type.String({ default: topics.paymentSettled, pattern: topicPattern }),
  NURI_POINT_SETTLED_GROUP_ID: Type.String({
    default: defaultGroupIdOf('NURI_POINT_SETTLED_GROUP_ID'),
    pattern: groupIdPattern,
  }),
  NURI_POINT_SETTLED_BATCH_SIZE_MAX: Type.Integer({ default: 500, minimum: 1, maximum: 5_000 }),
  NURI_POINT_OUTBOX_BATCH_SIZE_MAX: Type.Integer({ default: 1_000, minimum: 1, maximum: 5_000 }),
  NURI_POINT_OUTBOX_POLL_INTERVAL_MS: Type.Integer({ default: 20, minimum: 5, maximum: 10_000 }),
  /** A payment still PENDING this long after its (latest) cash request gets the request re-sent. */
  NURI_POINT_PAYMENT_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100, maximum: 3_600_000 }),
  /** Cash requests per payment, the first included; past them the payment is reported stuck. */
  NURI_POINT_PAYMENT_ATTEMPTS_MAX: Type.Integer({ default: 5, minimum: 1, maximum: 100 }),
  /** Each re-send waits timeout × factor^(attempt − 1), at most the cap below. */
  NURI_POINT_PAYMENT_BACKOFF_FACTOR: Type.Integer({ default: 2, minimum: 1, maximum: 10 }),
  NURI_POINT_PAYMENT_BACKOFF_MAX_MS: Type.Integer({ default: 300_000, minimum: 100, maximum: 86_400_000 }),
  NURI_POINT_TIMEOUT_SCAN_INTERVAL_MS: Type.Integer({ default: 1_000, minimum: 10, maximum: 600_000 }),
  NURI_POINT_TIMEOUT_SCAN_BATCH_SIZE_MAX: Type.Integer({ default: 500, minimum: 1, maximum: 10_000 }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
