import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@nuri/platform/logger';
import { createRedis, type Redis } from '@nuri/platform/redis';
import { createRateLimiter, type RateLimiter, type RateLimitOptions } from '../../src/rate-limit.ts';
import { silentLogger } from './helpers.ts';

const redis = createRedis({ url: 'redis://127.0.0.1:6379', name: 'gateway-rate-limit-test' });
const opened: Array<{ limiter: RateLimiter; client?: Redis }> = [];

after(async () => {
  for (const { limiter, client } of opened) {
    await limiter.close();
    client?.disconnect();
  }
  redis.disconnect();
});

// Long windows, so a test does not straddle two of them; each test its own
// keys, as other test processes share this Redis.
const windowMs = 60_000;

function limiter(overrides: Partial<RateLimitOptions> & { keyPrefix: string }): RateLimiter {
  const created = createRateLimiter({
    redis,
    logger: silentLogger,
    ipMax: 1_000_000,
    userMax: 1_000_000,
    windowMs,
    // Far apart unless a test wants the timer: tests call sync() themselves.
    syncIntervalMs: 10_000,
    ...overrides,
  });
  opened.push({ limiter: created });
  return created;
}

const newPrefix = () => `rl-test-${randomBytes(4).toString('hex')}`;

async function awayFromWindowEdge(): Promise<void> {
  while (windowMs - (Date.now() % windowMs) < 5_000) await sleep(100);
}

function admittedOf(limiter: RateLimiter, hits: number, ip = '203.0.113.7', user?: string): boolean[] {
  return Array.from({ length: hits }, () => !limiter.hit(ip, user).limited);
}

test('when one instance passes a limit, then it refuses at once, without waiting for Redis, with Retry-After to the window end', async () => {
  await awayFromWindowEdge();
  const alone = limiter({ keyPrefix: newPrefix(), userMax: 3 });
  const user = '01890a5d-ac96-774b-bcce-b302099a8057';
  assert.deepEqual(admittedOf(alone, 5, '203.0.113.7', user), [true, true, true, false, false]);
  const refused = alone.hit('203.0.113.7', user);
  assert.equal(refused.limited, true);
  const retryAfterSeconds = refused.limited ? refused.retryAfterSeconds : 0;
  assert.ok(retryAfterSeconds >= 1 && retryAfterSeconds <= windowMs / 1_000, String(retryAfterSeconds));
  assert.equal(alone.hit('203.0.113.7', '01890a5d-ac96-774b-bcce-b302099a8058').limited, false);
});

test('when two instances share Redis, then each is refused once their hits together pass the limit', async () => {
  await awayFromWindowEdge();
  const prefix = newPrefix();
  const first = limiter({ keyPrefix: prefix, ipMax: 40 });
  const second = limiter({ keyPrefix: prefix, ipMax: 40 });

  assert.ok(admittedOf(first, 30).every(Boolean));
  await first.sync();
  // The second has not synced this key yet: it admits, then learns the 31 hits.
  assert.equal(second.hit('203.0.113.7', undefined).limited, false);
  await second.sync();
  assert.deepEqual(
    admittedOf(second, 10),
    [...Array(9).fill(true), false],
    '41 hits in all: the 41st is refused',
  );

  // The first learns the others' hits when it next syncs the key (the sync slack: one hit here).
  assert.equal(first.hit('203.0.113.7', undefined).limited, false);
  await second.sync();
  await first.sync();
  assert.equal(first.hit('203.0.113.7', undefined).limited, true);
  await first.sync();
  const window = Math.floor(Date.now() / windowMs);
  assert.equal(await redis.get(`${prefix}:ip:{203.0.113.7}:${window}`), '43', 'every hit, refused ones too');
  assert.ok((await redis.pttl(`${prefix}:ip:{203.0.113.7}:${window}`)) > windowMs);
});

test('when two instances race with the background sync, then together they admit the limit, never fewer, and at most the sync slack more', async () => {
  await awayFromWindowEdge();
  const prefix = newPrefix();
  const limit = 200;
  const syncIntervalMs = 20;
  const instances = [
    limiter({ keyPrefix: prefix, ipMax: limit, syncIntervalMs }),
    limiter({ keyPrefix: prefix, ipMax: limit, syncIntervalMs }),
  ];
  let admitted = 0;
  // 1,000 hits, 5 per instance every 5 ms: about 20 per instance per sync interval.
  for (let round = 0; round < 100; round += 1) {
    for (const instance of instances) admitted += admittedOf(instance, 5).filter(Boolean).length;
    await sleep(5);
  }
  assert.ok(admitted >= limit, `admitted ${admitted}: never refused before the limit`);
  // Unshared, each would admit the limit (400 in all); shared, the excess is what
  // one instance admits before it sees the other's hits (a couple of intervals).
  assert.ok(admitted < limit + 100, `admitted ${admitted}`);
  await sleep(syncIntervalMs * 5);
  for (const instance of instances) assert.equal(instance.hit('203.0.113.7', undefined).limited, true);
});

test('when a new window starts, then the counts start over', async () => {
  const clock = { now: Math.floor(Date.now() / windowMs) * windowMs + 1_000 };
  const counting = limiter({ keyPrefix: newPrefix(), ipMax: 2, now: () => clock.now });
  assert.deepEqual(admittedOf(counting, 3), [true, true, false]);
  clock.now += windowMs;
  assert.deepEqual(admittedOf(counting, 3), [true, true, false]);
});

test('when more keys arrive in one window than the bound, then the key not hit longest is forgotten and memory stays bounded', async () => {
  await awayFromWindowEdge();
  const bounded = limiter({ keyPrefix: newPrefix(), ipMax: 1, keysMax: 2 });
  assert.deepEqual(admittedOf(bounded, 2, '203.0.113.1'), [true, false]);
  admittedOf(bounded, 1, '203.0.113.2');
  admittedOf(bounded, 1, '203.0.113.3');
  // 203.0.113.1 was forgotten locally: it counts from zero again (until a sync reads its shared count).
  assert.deepEqual(admittedOf(bounded, 2, '203.0.113.1'), [true, false]);
  assert.deepEqual(admittedOf(bounded, 1, '203.0.113.3'), [false], 'a remembered key keeps its count');
});

test('when Redis cannot be reached, then each instance keeps enforcing the limit on its own counts and a warning says so, once', async () => {
  await awayFromWindowEdge();
  const lines: string[] = [];
  const logger = createLogger({
    name: 'test',
    level: 'warn',
    destination: { write: (line) => void lines.push(line) },
  });
  const unreachable = createRedis({
    url: 'redis://127.0.0.1:1',
    name: 'gateway-rate-limit-test-down',
    maxRetriesPerRequest: 0,
  });
  unreachable.on('error', () => undefined);
  const created = createRateLimiter({
    redis: unreachable,
    logger,
    ipMax: 3,
    userMax: 1_000,
    windowMs,
    syncIntervalMs: 10_000,
    keyPrefix: newPrefix(),
  });
  opened.push({ limiter: created, client: unreachable });
  created.hit('203.0.113.7', undefined);
  await created.sync();
  // One hit went before the failed sync; the limit of 3 still holds across it.
  assert.deepEqual(admittedOf(created, 4, '203.0.113.7'), [true, true, false, false]);
  await created.sync();
  const warnings = lines.filter((line) => line.includes('each instance enforces alone'));
  assert.equal(warnings.length, 1, lines.join(''));
});
