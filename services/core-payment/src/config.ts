import { defaultGroupIdOf } from '@nuri/contracts/consumer-groups';
import { loadConfig } from '@nuri/platform/config';
import { internalCallersConfig } from '@nuri/platform/internal-auth';
import { commonConfig, kafkaConfig, portVariable, postgresConfig } from '@nuri/platform/service';
import { type Static, Type } from 'typebox';
import { defaultWithdrawalBatching } from './db/withdrawals-repository.ts';
import { defaultTransferDailyLimit } from './domain/transfers.ts';

const groupIdPattern = '^[A-Za-z0-9._-]{1,128}$';

function batchSize(defaultSize: number) {
  return Type.Integer({ default: defaultSize, minimum: 1, maximum: 5_000 });
}

export const ConfigSchema = Type.Object({
  ...commonConfig,
  ...postgresConfig,
  ...kafkaConfig,
  ...internalCallersConfig,
  NURI_CORE_PAYMENT_PORT: portVariable(8102),
  NURI_CORE_PAYMENT_DB: Type.String({ default: 'nuri_core_payment', pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
  NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID: Type.String({
    default: defaultGroupIdOf('NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID'),
    pattern: groupIdPattern,
  }),
  NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID: Type.String({
    default: defaultGroupIdOf('NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID'),
    pattern: groupIdPattern,
  }),
  NURI_CORE_PAYMENT_COUPONS_GROUP_ID: Type.String({
    default: defaultGroupIdOf('NURI_CORE_PAYMENT_COUPONS_GROUP_ID'),
    pattern: groupIdPattern,
  }),
  // Deposits are the bulk traffic: one transaction per batch amortises the commit.
  NURI_CORE_PAYMENT_DEPOSIT_BATCH_SIZE_MAX: batchSize(1_000),
  /** Deposit consumers per process (at most the topic's partitions do work). */
  NURI_CORE_PAYMENT_DEPOSIT_CONSUMERS: Type.Integer({ default: 2, minimum: 1, maximum: 16 }),
  NURI_CORE_PAYMENT_PAYMENT_BATCH_SIZE_MAX: batchSize(200),
  NURI_CORE_PAYMENT_COUPON_BATCH_SIZE_MAX: batchSize(500),
  NURI_CORE_PAYMENT_OUTBOX_BATCH_SIZE_MAX: batchSize(1_000),
  // Withdrawals are gathered into shared transactions (group commit, see withdrawals-repository.ts).
  NURI_CORE_PAYMENT_WITHDRAWAL_BATCH_SIZE_MAX: Type.Integer({
    default: defaultWithdrawalBatching.batchSizeMax,
    minimum: 1,
    maximum: 1_000,
  }),
  /**
   * Withdrawal transactions at once, each holding a pooled connection: keep below NURI_PG_POOL_SIZE_MAX.
   * One by default: on 2 cores it measured best (see defaultWithdrawalBatching); raise it where
   * PostgreSQL has cores to spare.
   */
  NURI_CORE_PAYMENT_WITHDRAWAL_LANES: Type.Integer({
    default: defaultWithdrawalBatching.lanes,
    minimum: 1,
    maximum: 64,
  }),
  /** Withdrawals waiting for a transaction; past it a request gets 503 at once. */
  NURI_CORE_PAYMENT_WITHDRAWAL_QUEUE_LENGTH_MAX: Type.Integer({
    default: defaultWithdrawalBatching.queueLengthMax,
    minimum: 1,
    maximum: 100_000,
  }),
  /** docs/api.md: a user's transfers out per Asia/Seoul calendar day may not pass this many won. */
  NURI_CORE_PAYMENT_TRANSFER_DAILY_LIMIT: Type.Integer({
    default: Number(defaultTransferDailyLimit),
    minimum: 1,
    maximum: 1_000_000_000_000,
  }),
});

export type Config = Static<typeof ConfigSchema>;

export function loadServiceConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(ConfigSchema, env);
}
