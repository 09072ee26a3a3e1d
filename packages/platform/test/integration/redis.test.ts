import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { uuidv7 } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import { createRedis, type Redis, redisReadinessCheck } from '../../src/redis.ts';

// The local Redis the test suite runs against (see docs/architecture.md: used where it already runs).
const redisUrl = 'redis://127.0.0.1:6379';

const clients: Redis[] = [];
function track(redis: Redis): Redis {
  clients.push(redis);
  return redis;
}

after(() => {
  for (const redis of clients) redis.disconnect();
});

const hangLimit = { timeout: 5_000 };

describe('createRedis against a real Redis', () => {
  it('when Redis is up, then the readiness check passes and commands round-trip', hangLimit, async () => {
    const redis = track(createRedis({ url: redisUrl, name: 'platform-test' }));
    await redisReadinessCheck(redis);
    const key = `platform-test:{${uuidv7()}}`;
    await redis.set(key, 'value', 'PX', 10_000);
    assert.equal(await redis.get(key), 'value');
    await redis.del(key);
  });

  it(
    'when auto-pipelining, then commands of one turn wait to leave together and each gets its own answer, in order',
    hangLimit,
    async () => {
      const redis = track(createRedis({ url: redisUrl, name: 'platform-test', autoPipelining: true }));
      await redisReadinessCheck(redis);
      const key = `platform-test:{${uuidv7()}}`;
      const answers = Array.from({ length: 50 }, () => redis.incr(key));
      // Queued for one write at the end of this turn, not written one by one.
      assert.equal(redis.autoPipelineQueueSize, 50);
      assert.deepEqual(
        await Promise.all(answers),
        Array.from({ length: 50 }, (_, index) => index + 1),
      );
      await redis.del(key);
      const plain = track(createRedis({ url: redisUrl, name: 'platform-test' }));
      await redisReadinessCheck(plain);
      const written = plain.incr(key);
      assert.equal(plain.autoPipelineQueueSize, 0);
      assert.equal(await written, 1);
      await redis.del(key);
    },
  );

  it('when connected, then the connection carries the service name for CLIENT LIST', hangLimit, async () => {
    const redis = track(createRedis({ url: redisUrl, name: 'platform-test-named' }));
    assert.equal(await redis.client('GETNAME'), 'platform-test-named');
  });

  it('when a command outlives the command timeout, then it fails instead of hanging', hangLimit, async () => {
    const redis = track(createRedis({ url: redisUrl, name: 'platform-test', commandTimeoutMs: 200 }));
    await redisReadinessCheck(redis);
    const startedMs = Date.now();
    // BLPOP on an empty key would block for 5 s; the 200 ms limit must win.
    await assert.rejects(redis.blpop(`platform-test:{${uuidv7()}}`, 5), /timed out/i);
    assert.ok(Date.now() - startedMs < 2_000);
  });

  it(
    'when Redis cannot be reached, then the readiness check rejects within its limits and the error is logged',
    hangLimit,
    async () => {
      const lines: string[] = [];
      const logger = createLogger({ name: 'test', destination: { write: (line) => void lines.push(line) } });
      const redis = track(
        createRedis({
          url: 'redis://:s3cret-pass@127.0.0.1:1',
          name: 'platform-test-down',
          connectTimeoutMs: 200,
          commandTimeoutMs: 300,
          maxRetriesPerRequest: 1,
          logger,
        }),
      );
      const startedMs = Date.now();
      await assert.rejects(redisReadinessCheck(redis));
      assert.ok(Date.now() - startedMs < 2_000, 'failed fast');
      assert.ok(
        lines.some((line) => line.includes('redis connection error')),
        'connection errors reach the logger',
      );
      assert.ok(!lines.join('').includes('s3cret-pass'), 'the URL password is never logged');
    },
  );
});
