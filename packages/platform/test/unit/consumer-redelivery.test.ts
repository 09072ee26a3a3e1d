import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noteHandled, unhandled } from '../../src/kafka/consumer.ts';

// What a consumer does with a message its client delivers again after it was
// handed over (seen in CI: one malformed message dead-lettered twice, 11 ms
// apart, by one consumer).

const at = (partition: number, offset: number, topic = 't') => ({ topic, partition, offset: BigInt(offset) });
const positions = (batch: readonly { topic: string; partition: number; offset: bigint }[]) =>
  batch.map((message) => `${message.topic}/${message.partition}/${message.offset}`);

test('when a batch repeats offsets already handled on its partition, then only the new ones are handled', () => {
  const handled = new Map<string, bigint>();
  const first = unhandled([at(0, 4), at(0, 5), at(1, 9)], handled);
  assert.deepEqual(positions(first), ['t/0/4', 't/0/5', 't/1/9']);
  noteHandled(first, handled);
  // The client hands over offset 5 of partition 0 again, beside new messages.
  const second = unhandled([at(0, 5), at(0, 6), at(1, 9), at(1, 10), at(2, 0)], handled);
  assert.deepEqual(positions(second), ['t/0/6', 't/1/10', 't/2/0']);
});

test('when one batch holds the same message twice, then it is handled once', () => {
  assert.deepEqual(positions(unhandled([at(0, 7), at(0, 7), at(0, 8)], new Map())), ['t/0/7', 't/0/8']);
});

test('when another topic has the same partition and offset, then it is a different message', () => {
  const handled = new Map<string, bigint>();
  noteHandled([at(0, 3, 'a')], handled);
  assert.deepEqual(positions(unhandled([at(0, 3, 'a'), at(0, 3, 'b')], handled)), ['b/0/3']);
});

test('when nothing was handled yet (a new stream), then every message is handled', () => {
  const handled = new Map<string, bigint>();
  noteHandled([at(0, 50)], handled);
  handled.clear();
  assert.deepEqual(positions(unhandled([at(0, 40), at(0, 41)], handled)), ['t/0/40', 't/0/41']);
});
