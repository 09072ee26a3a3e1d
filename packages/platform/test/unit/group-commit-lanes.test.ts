import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createGroupCommit, GroupCommitFullError } from '../../src/group-commit.ts';

interface Item {
  key: string;
  value: number;
}

/** A run() whose batches finish when the test says so, recording what each carried. */
function controlledRun() {
  const batches: { items: Item[]; finish: (error?: Error) => void }[] = [];
  return {
    batches,
    run: (items: readonly Item[]) =>
      new Promise<string[]>((resolve, reject) => {
        batches.push({
          items: [...items],
          finish: (error) =>
            error ? reject(error) : resolve(items.map((item) => `${item.key}:${item.value}`)),
        });
      }),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('when items arrive in one event-loop turn, then they leave as one batch and each gets its own result', async () => {
    const control = controlledRun();
    const group = createGroupCommit({
      batchSizeMax: 10,
      concurrency: 1,
      queueLengthMax: 100,
      keyOf: (item: Item) => item.key,
      run: control.run,
    });
    const results = [1, 2, 3].map((value) => group.submit({ key: 'a', value }));
    await turn();
    assert.equal(control.batches.length, 1);
    assert.deepEqual(
      control.batches[0]!.items.map((item) => item.value),
      [1, 2, 3],
    );
    control.batches[0]!.finish();
    assert.deepEqual(await Promise.all(results), ['a:1', 'a:2', 'a:3']);
  });

  it('when a lane is busy, then its items wait and leave together (at most batchSizeMax) once the batch is done', async () => {
    const control = controlledRun();
    const group = createGroupCommit({
      batchSizeMax: 2,
      concurrency: 1,
      queueLengthMax: 100,
      keyOf: (item: Item) => item.key,
      run: control.run,
    });
    const results = [group.submit({ key: 'a', value: 1 })];
    await turn();
    results.push(...[2, 3, 4].map((value) => group.submit({ key: 'a', value })));
    await turn();
    assert.equal(control.batches.length, 1, 'one batch at a time per lane');
    control.batches[0]!.finish();
    await turn();
    await turn();
    assert.deepEqual(
      control.batches[1]!.items.map((item) => item.value),
      [2, 3],
    );
    control.batches[1]!.finish();
    await turn();
    await turn();
    assert.deepEqual(
      control.batches[2]!.items.map((item) => item.value),
      [4],
    );
    control.batches[2]!.finish();
    assert.deepEqual(await Promise.all(results), ['a:1', 'a:2', 'a:3', 'a:4']);
  });

  it('when keys fall in different lanes, then their batches run at the same time, and one key never spans two lanes', async () => {
    const control = controlledRun();
    const group = createGroupCommit({
      batchSizeMax: 100,
      concurrency: 4,
      queueLengthMax: 1_000,
      keyOf: (item: Item) => item.key,
      run: control.run,
    });
    const keys = Array.from({ length: 40 }, (_, index) => `key-${index}`);
    const results = keys.flatMap((key) => [group.submit({ key, value: 1 }), group.submit({ key, value: 2 })]);
    await turn();
    assert.ok(control.batches.length > 1 && control.batches.length <= 4, `${control.batches.length} batches`);
    const laneOfKey = new Map<string, number>();
    for (const [lane, batch] of control.batches.entries())
      for (const item of batch.items) {
        assert.equal(laneOfKey.get(item.key) ?? lane, lane, item.key);
        laneOfKey.set(item.key, lane);
      }
    for (const batch of control.batches) batch.finish();
    assert.equal((await Promise.all(results)).length, 80);
  });

  it('when a batch fails, then its items get the error and the next batch runs', async () => {
    const control = controlledRun();
    const group = createGroupCommit({
      batchSizeMax: 10,
      concurrency: 1,
      queueLengthMax: 100,
      keyOf: (item: Item) => item.key,
      run: control.run,
    });
    const failed = [group.submit({ key: 'a', value: 1 }), group.submit({ key: 'a', value: 2 })];
    await turn();
    const later = group.submit({ key: 'a', value: 3 });
    control.batches[0]!.finish(new Error('connection lost'));
    for (const result of failed) await assert.rejects(result, /connection lost/);
    await turn();
    control.batches[1]!.finish();
    assert.equal(await later, 'a:3');
  });

  it('when the queue is full, then submit refuses at once without running anything', async () => {
    const control = controlledRun();
    const group = createGroupCommit({
      batchSizeMax: 10,
      concurrency: 1,
      queueLengthMax: 2,
      keyOf: (item: Item) => item.key,
      run: control.run,
    });
    const running = group.submit({ key: 'a', value: 1 });
    await turn();
    const waiting = [group.submit({ key: 'a', value: 2 }), group.submit({ key: 'b', value: 3 })];
    await assert.rejects(group.submit({ key: 'a', value: 4 }), GroupCommitFullError);
    control.batches[0]!.finish();
    assert.equal(await running, 'a:1');
    await turn();
    await turn();
    for (const batch of control.batches.slice(1)) batch.finish();
    assert.deepEqual(await Promise.all(waiting), ['a:2', 'b:3']);
    assert.deepEqual(
      control.batches.flatMap((batch) => batch.items.map((item) => item.value)),
      [1, 2, 3],
    );
  });
});
