import { defaultGroupIdOf } from '@nuri/contracts/consumer-groups';
import { topics } from '@nuri/contracts/events';
import { adminTokenConfig } from '@nuri/platform/admin-auth';
import { ConfigError, loadConfig } from '@nuri/platform/config';
import { internalAuthConfig, internalCallersConfig } from '@nuri/platform/internal-auth';
import {
  commonConfig,
  kafkaConfig,
  mysqlConfig,
  portVariable,
  redisConfig,
  upstreamUrlsVariable,
} from '@nuri/platform/service';
import { type Static, Type } from 'typebox';

const topicPattern = '^[A-Za-z0-9._-]{1,200}$';
const groupIdPattern = '^[A-Za-z0-9._-]{1,128}$';

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...mysqlConfig,
  ...redisConfig,
  ...kafkaConfig,
  // The token this service presents to core-payment (recorded-count during a rebuild).
  ...internalAuthConfig,
  ...internalCallersConfig,
  NURI_COUPON_PORT: portVariable(8203),
  NURI_COUPON_DB: Type.String({ default: 'nuri_coupon', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
  /** Bearer token of the admin routes; compared in constant time. No default: it is a secret. */
  ...adminTokenConfig,
  /** channel-user's base URL; its /.well-known/jwks.json verifies access tokens. */
  NURI_CHANNEL_USER_URL: upstreamUrlsVariable('http://127.0.0.1:8201'),
  NURI_CORE_PAYMENT_URL: upstreamUrlsVariable('http://127.0.0.1:8102'),
  NURI_CORE_PAYMENT_TIMEOUT_MS: Type.Integer({ default: 2_000, minimum: 100, maximum: 30_000 }),
  NURI_COUPON_ISSUED_TOPIC: Type.String({ default: topics.couponIssued, pattern: topicPattern }),
  NURI_COUPON_RECORDED_TOPIC: Type.String({ default: topics.couponRecorded, pattern: topicPattern }),
  /** One group reads coupon.issued (the MySQL mirror) and coupon.recorded (clears pending). */
  NURI_COUPON_EVENTS_GROUP_ID: Type.String({
    default: defaultGroupIdOf('NURI_COUPON_EVENTS_GROUP_ID'),
    pattern: groupIdPattern,
  }),
  NURI_COUPON_EVENTS_BATCH_SIZE_MAX: Type.Integer({ default: 500, minimum: 1, maximum: 5_000 }),
  /** coupon.issued events handed to Kafka and not yet acked, across all requests. */
  NURI_COUPON_SEND_WINDOW_MAX: Type.Integer({ default: 5_000, minimum: 1, maximum: 100_000 }),
  /** Events per produce request; a full window drains in window/batch round trips. */
  NURI_COUPON_SEND_BATCH_SIZE_MAX: Type.Integer({ default: 500, minimum: 1, maximum: 10_000 }),
  /** How long a winning request waits for room in a full window before 503 COUPON_UNAVAILABLE. */
  NURI_COUPON_SEND_WAIT_MS: Type.Integer({ default: 500, minimum: 0, maximum: 30_000 }),
  /** Per produce request to the broker, acks included; bounds how long a 201 can take. */
  NURI_COUPON_SEND_TIMEOUT_MS: Type.Integer({ default: 5_000, minimum: 100, maximum: 60_000 }),
  /**
   * How long a won coupon may wait in the send queue behind a slow broker;
   * past it the request gets 503 and the coupon is taken back, never sent
   * late (a late send could claim stock that a rebuild re-opened).
   */
  NURI_COUPON_SEND_QUEUE_WAIT_MAX_MS: Type.Integer({ default: 5_000, minimum: 100, maximum: 60_000 }),
  NURI_COUPON_RECOVERY_INTERVAL_MS: Type.Integer({ default: 60_000, minimum: 100, maximum: 3_600_000 }),
  /** A coupon not recorded by the core this long after its issue is re-sent. */
  NURI_COUPON_RECOVERY_GRACE_MS: Type.Integer({ default: 30_000, minimum: 0, maximum: 86_400_000 }),
  /**
   * Before rebuilding a campaign whose Redis state vanished, wait this long so
   * that every send started before the loss, on any instance, has been acked
   * or failed (see domain/rebuild.ts). Checked at boot to exceed the longest
   * send (longestSendMs): about 26 s with the defaults.
   */
  NURI_COUPON_REBUILD_SETTLE_MS: Type.Integer({ default: 30_000, minimum: 0, maximum: 600_000 }),
  /** Longest a rebuild may take (settle included) before requests for that campaign get 503. */
  NURI_COUPON_REBUILD_TIMEOUT_MS: Type.Integer({ default: 60_000, minimum: 1_000, maximum: 600_000 }),
});

export type Config = Static<typeof ConfigSchema>;

/** The platform producer's connect timeout, retries and retry delay (kafka/producer.ts defaults). */
const producerConnectTimeoutMs = 5_000;
const producerRetriesMax = 3;
const producerRetryDelayMs = 250;

/**
 * The longest a coupon.issued send can take from the script's win to its
 * ack or failure: waiting for room in the window, then in the queue, then every attempt.
 */
export function longestSendMs(config: Config): number {
  const attemptMs = Math.max(producerConnectTimeoutMs, config.NURI_COUPON_SEND_TIMEOUT_MS);
  return (
    config.NURI_COUPON_SEND_WAIT_MS +
    config.NURI_COUPON_SEND_QUEUE_WAIT_MAX_MS +
    (producerRetriesMax + 1) * attemptMs +
    producerRetriesMax * producerRetryDelayMs
  );
}

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const config = loadConfig(ConfigSchema, env);
  // With several instances, recovery (every instance runs it) must never
  // re-send a coupon that another instance is still sending: its send could
  // still fail and roll back a coupon the core then records anyway. Only a
  // coupon older than any send can be is a stranded one.
  // And a rebuild must wait out every send begun before Redis lost the state.
  const longest = longestSendMs(config);
  const problems = (['NURI_COUPON_RECOVERY_GRACE_MS', 'NURI_COUPON_REBUILD_SETTLE_MS'] as const)
    .filter((variable) => config[variable] <= longest)
    .map(
      (variable) =>
        `${variable} (${config[variable]}) must exceed the longest send, ${longest} ms (NURI_COUPON_SEND_WAIT_MS + NURI_COUPON_SEND_QUEUE_WAIT_MAX_MS + 4 attempts of max(5 s connect, NURI_COUPON_SEND_TIMEOUT_MS) + retry delays)`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
