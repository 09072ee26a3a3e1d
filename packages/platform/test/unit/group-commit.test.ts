import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGroupCommit, GroupCommitFullError } from '../../src/group-commit.ts';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A write that waits until released, recording each batch it was given. */
function heldWrites() {
  const batches: number[][] = [];
  const releases: Array<(fail?: Error) => void> = [];
  const run = (items: readonly number[]) => {
    batches.push([...items]);
    return new Promise<string[]>((resolve, reject) => {
      releases.push((fail) =>
        fail === undefined ? resolve(items.map((item) => `ok ${item}`)) : reject(fail),
      );
    });
  };
  const releaseNext = async (fail?: Error) => {
    releases.shift()!(fail);
    await nextTurn();
  };
  return { batches, run, releaseNext };
}

test('when a lone item arrives and a slot is free, then it is written in this turn, alone', async () => {
  const writes = heldWrites();
  const group = createGroupCommit({ ...writes, batchSizeMax: 10, queueLengthMax: 10, concurrency: 1 });
  const result = group.submit(1);
  await nextTurn();
  assert.deepEqual(writes.batches, [[1]]);
  await writes.releaseNext();
  assert.equal(await result, 'ok 1');
});

test('when items arrive in one turn, then they share a write up to the batch size, each getting its own result', async () => {
  const writes = heldWrites();
  const group = createGroupCommit({ ...writes, batchSizeMax: 3, queueLengthMax: 10, concurrency: 1 });
  const results = [1, 2, 3, 4, 5].map((item) => group.submit(item));
  await nextTurn();
  assert.deepEqual(writes.batches, [[1, 2, 3]]);
  await writes.releaseNext();
  assert.deepEqual(writes.batches, [
    [1, 2, 3],
    [4, 5],
  ]);
  await writes.releaseNext();
  assert.deepEqual(await Promise.all(results), ['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5']);
});

test('when every slot is busy, then later arrivals wait and leave together with the next free slot', async () => {
  const writes = heldWrites();
  const group = createGroupCommit({ ...writes, batchSizeMax: 10, queueLengthMax: 10, concurrency: 1 });
  const first = group.submit(1);
  await nextTurn();
  const later = [2, 3, 4].map((item) => group.submit(item));
  await nextTurn();
  await nextTurn();
  assert.deepEqual(writes.batches, [[1]], 'nothing else while the only slot is busy');
  await writes.releaseNext();
  assert.deepEqual(writes.batches, [[1], [2, 3, 4]]);
  await writes.releaseNext();
  assert.deepEqual(await Promise.all([first, ...later]), ['ok 1', 'ok 2', 'ok 3', 'ok 4']);
});

test('when a write fails, then every item of that batch fails with its error and later batches still go', async () => {
  const writes = heldWrites();
  const group = createGroupCommit({ ...writes, batchSizeMax: 2, queueLengthMax: 10, concurrency: 1 });
  const outcomes = Promise.allSettled([group.submit(1), group.submit(2), group.submit(3)]);
  await nextTurn();
  const failure = new Error('connection lost');
  await writes.releaseNext(failure);
  await writes.releaseNext();
  assert.deepEqual(writes.batches, [[1, 2], [3]]);
  assert.deepEqual(await outcomes, [
    { status: 'rejected', reason: failure },
    { status: 'rejected', reason: failure },
    { status: 'fulfilled', value: 'ok 3' },
  ]);
});

test('when the queue is full, then a new item is refused at once and is never written', async () => {
  const writes = heldWrites();
  const group = createGroupCommit({ ...writes, batchSizeMax: 5, queueLengthMax: 2, concurrency: 1 });
  const accepted = [group.submit(1), group.submit(2)];
  await assert.rejects(group.submit(3), GroupCommitFullError);
  await nextTurn();
  await writes.releaseNext();
  assert.deepEqual(await Promise.all(accepted), ['ok 1', 'ok 2']);
  assert.deepEqual(writes.batches, [[1, 2]]);
});

test('when several writes may run at once, then no more than that run together', async () => {
  const writes = heldWrites();
  const group = createGroupCommit({ ...writes, batchSizeMax: 2, queueLengthMax: 10, concurrency: 2 });
  const results = [1, 2, 3, 4, 5, 6].map((item) => group.submit(item));
  await nextTurn();
  assert.deepEqual(writes.batches, [
    [1, 2],
    [3, 4],
  ]);
  await writes.releaseNext();
  assert.deepEqual(writes.batches, [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  await writes.releaseNext();
  await writes.releaseNext();
  assert.deepEqual(await Promise.all(results), ['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5', 'ok 6']);
});
