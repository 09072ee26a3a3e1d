import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { createLogger } from '@nuri/platform/logger';
import { createRedis } from '@nuri/platform/redis';
import { createKeyScope, keyClaimTimeoutMs } from '../../src/key-scope.ts';
import { randomUserUuid } from './helpers.ts';

// The gateway's Idempotency-Key claims (key-scope.ts) against a real Redis,
// and against a peer that accepts connections and never answers (a hung
// Redis): how long a request waits, and what a claim remembers.

const redis = createRedis({ url: 'redis://127.0.0.1:6379', name: 'key-scope-test' });

after(() => {
  redis.disconnect();
});

function warnings() {
  const lines: string[] = [];
  const logger = createLogger({
    name: 'test',
    level: 'warn',
    destination: { write: (line) => void lines.push(line) },
  });
  return { logger, count: () => lines.filter((line) => line.includes('cannot reach Redis')).length };
}

test('when a claim was read, then this instance answers from it for 10 minutes, and asks Redis again after', async () => {
  const keyPrefix = `idem-test-${randomBytes(4).toString('hex')}`;
  let clock = Date.now();
  const scope = createKeyScope({ redis, logger: warnings().logger, keyPrefix, now: () => clock });
  const user = randomUserUuid();
  assert.equal(await scope.claim(user, 'k1', 'point'), 'ok');
  assert.equal(await scope.claim(user, 'k1', 'channel-user'), 'elsewhere');
  const [stored] = await redis.keys(`${keyPrefix}:*`);
  assert.ok(stored !== undefined, 'one claim in Redis');
  assert.ok(!stored.includes(user) && !stored.includes('k1'), 'stored under a hash, not the user and key');
  assert.equal(await redis.get(stored), 'point');
  const ttl = await redis.pttl(stored);
  assert.ok(ttl > 23 * 3_600_000 && ttl <= 24 * 3_600_000, `ttl ${ttl}`);
  // Redis lets the claim go (its 24 hours are up): within 10 minutes this instance still refuses…
  await redis.del(stored);
  clock += 9 * 60_000;
  assert.equal(await scope.claim(user, 'k1', 'channel-user'), 'elsewhere');
  // …and after them it reads Redis again, where the key is free.
  clock += 2 * 60_000;
  assert.equal(await scope.claim(user, 'k1', 'channel-user'), 'ok');
  assert.equal(await redis.get(stored), 'channel-user');
  await redis.del(stored);
});

test('when Redis accepts the connection and never answers, then a claim waits its timeout once, the next ones for a second not at all, and one warning says so', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const hung = createRedis({
    url: `redis://127.0.0.1:${port}`,
    name: 'key-scope-test-hung',
    commandTimeoutMs: keyClaimTimeoutMs,
    maxRetriesPerRequest: 0,
  });
  hung.on('error', () => undefined);
  const seen = warnings();
  let clock = Date.now();
  const scope = createKeyScope({ redis: hung, logger: seen.logger, now: () => clock });
  const user = randomUserUuid();
  const timed = async (owner: 'point' | 'channel-user') => {
    const started = performance.now();
    const answer = await scope.claim(user, 'k2', owner);
    return { answer, ms: performance.now() - started };
  };
  try {
    const first = await timed('point');
    assert.equal(first.answer, 'ok', 'unchecked, not refused');
    assert.ok(first.ms >= keyClaimTimeoutMs - 20 && first.ms < keyClaimTimeoutMs + 1_000, `${first.ms} ms`);
    const paused = await timed('channel-user');
    assert.equal(paused.answer, 'ok');
    assert.ok(paused.ms < 50, `a claim during the pause waited ${paused.ms} ms`);
    clock += 1_100;
    const again = await timed('channel-user');
    assert.equal(again.answer, 'ok');
    assert.ok(again.ms >= keyClaimTimeoutMs - 20, `after the pause it asked Redis again (${again.ms} ms)`);
    assert.equal(seen.count(), 1, 'one warning within 10 s');
  } finally {
    hung.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
