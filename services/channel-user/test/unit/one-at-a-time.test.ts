import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@nuri/platform/errors';
import { createOneAtATime } from '../../src/domain/one-at-a-time.ts';

test('when calls share a key, then they run one after another in arrival order; other keys run alongside', async () => {
  const serial = createOneAtATime(10);
  const events: string[] = [];
  const call = (key: string, name: string, ms: number) =>
    serial.run(key, async () => {
      events.push(`${name}:start`);
      await sleep(ms);
      events.push(`${name}:end`);
      return name;
    });
  const results = await Promise.all([call('a', 'a1', 30), call('a', 'a2', 5), call('b', 'b1', 5)]);
  assert.deepEqual(results, ['a1', 'a2', 'b1']);
  assert.ok(events.indexOf('a1:end') < events.indexOf('a2:start'), events.join(','));
  assert.ok(events.indexOf('b1:end') < events.indexOf('a1:end'), 'b does not wait for a');
});

test('when a call fails, then its error reaches its caller and the next call still runs', async () => {
  const serial = createOneAtATime(10);
  const failing = serial.run('k', async () => {
    throw new Error('boom');
  });
  const next = serial.run('k', async () => 'ran');
  await assert.rejects(failing, /boom/);
  assert.equal(await next, 'ran');
});

test('when more calls wait behind one key than allowed, then the extra one is refused with 429 at once', async () => {
  const serial = createOneAtATime(2);
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const admitted = [0, 1, 2].map(() => serial.run('k', () => gate));
  await assert.rejects(
    serial.run('k', async () => undefined),
    (error: unknown) => error instanceof AppError && error.status === 429 && error.code === 'RATE_LIMITED',
  );
  release();
  await Promise.all(admitted);
  assert.equal(await serial.run('k', async () => 'free again'), 'free again');
});
