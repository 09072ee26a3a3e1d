import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

export type { Redis } from 'ioredis';

export type RedisOptions = {
  /** redis:// or rediss:// URL; it may carry a password, so it is never logged. */
  url: string;
  /** Shown by CLIENT LIST, so an operator can tell the services' connections apart. */
  name: string;
  connectTimeoutMs?: number;
  /** A command without an answer after this long fails rather than hanging a request. */
  commandTimeoutMs?: number;
  /** Reconnect attempts a queued command waits through before it fails. */
  maxRetriesPerRequest?: number;
  /** Upper bound of the back-off between reconnect attempts. */
  reconnectDelayMsMax?: number;
  /** Connection errors are logged here; without it ioredis prints them itself. */
  logger?: Logger;
  /**
   * ioredis' auto-pipelining: commands queue and leave together, one write
   * for all that were issued while the previous such write still waited for
   * its answers (or within one turn), so many concurrent requests each
   * sending a command or two cost few syscalls rather than one per command.
   * They leave in the order they were issued; an explicit `pipeline()` or
   * `multi()` is written at once and can overtake commands still queued.
   * A queued command's `commandTimeoutMs` starts when it is written, so it
   * may wait longer in all. Off by default: a single caller gains nothing.
   */
  autoPipelining?: boolean;
};

/** An ioredis client that connects at once, with every wait bounded. */
export function createRedis(options: RedisOptions): Redis {
  const {
    url,
    name,
    connectTimeoutMs = 2_000,
    commandTimeoutMs = 1_000,
    maxRetriesPerRequest = 2,
    reconnectDelayMsMax = 2_000,
    logger,
    autoPipelining = false,
  } = options;
  const redis = new Redis(url, {
    connectionName: name,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest,
    lazyConnect: false,
    enableAutoPipelining: autoPipelining,
    // Keep reconnecting for as long as the process lives; readiness reports
    // the outage and commands fail fast through the limits above.
    retryStrategy: (attempt) => Math.min(attempt * 100, reconnectDelayMsMax),
  });
  if (logger !== undefined) {
    redis.on('error', (error: Error) => logger.warn({ err: error, redis: name }, 'redis connection error'));
  }
  return redis;
}

/** Resolves when Redis answers PING; rejects otherwise (for /health/ready). */
export async function redisReadinessCheck(redis: Redis): Promise<void> {
  const reply = await redis.ping();
  if (reply !== 'PONG') throw new Error(`unexpected PING reply from Redis`);
}
