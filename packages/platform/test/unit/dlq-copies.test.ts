import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collapseCopies, type DeadLetter, lettersByRef } from '../../src/kafka/dlq.ts';

// A consumer group dead-letters a message at least once: a second copy (the
// partition moved between the DLQ send and the commit) is one letter, listed
// once, found under either ref (read from a real broker in
// test/integration/dlq-read.test.ts).

function letter(offset: number, source: string | undefined, group = 'g', replayedAt?: string): DeadLetter {
  return {
    ref: `t.dlq/0/${offset}`,
    dlqTopic: 't.dlq',
    partition: 0,
    offset: BigInt(offset),
    topic: 't',
    source,
    key: 'k',
    value: '{"not json',
    error: 'SyntaxError',
    kind: 'validation',
    group,
    failedAt: '2026-12-07T00:00:00.000Z',
    eventId: undefined,
    eventType: undefined,
    replayedAt,
    copies: [],
  };
}

describe('dead-letter copies', () => {
  it('when one group wrote the same failed message twice, then the first letter is kept and names the second as its copy', () => {
    const letters = collapseCopies([letter(0, 't/0/1'), letter(1, 't/2/1'), letter(2, 't/0/1')]);
    assert.deepEqual(
      letters.map((kept) => [kept.ref, kept.copies]),
      [
        ['t.dlq/0/0', ['t.dlq/0/2']],
        ['t.dlq/0/1', []],
      ],
    );
  });

  it('when two groups failed on the same message, or a letter names no source, then each letter stays its own', () => {
    const letters = collapseCopies([
      letter(0, 't/0/1', 'deposits'),
      letter(1, 't/0/1', 'audit'),
      letter(2, undefined),
      letter(3, undefined),
    ]);
    assert.deepEqual(
      letters.map((kept) => kept.ref),
      ['t.dlq/0/0', 't.dlq/0/1', 't.dlq/0/2', 't.dlq/0/3'],
    );
    assert.ok(letters.every((kept) => kept.copies.length === 0));
  });

  it('when a topic was recreated and another message failed at the same offset, then its letter is its own', () => {
    const recreated = { ...letter(1, 't/0/1'), value: '{"also not json' };
    const letters = collapseCopies([letter(0, 't/0/1'), recreated]);
    assert.deepEqual(
      letters.map((kept) => [kept.ref, kept.copies]),
      [
        ['t.dlq/0/0', []],
        ['t.dlq/0/1', []],
      ],
    );
  });

  it('when letters are collapsed twice, then the answer is the same and the letters given are unchanged', () => {
    const given = [letter(0, 't/0/1'), letter(1, 't/0/1')];
    const once = collapseCopies(given);
    const twice = collapseCopies(given);
    assert.deepEqual(once, twice);
    assert.deepEqual(once[0]?.copies, ['t.dlq/0/1']);
    assert.ok(given.every((unchanged) => unchanged.copies.length === 0));
  });

  it('when only a copy was replayed, then the letter counts as replayed, at the latest replay of any copy', () => {
    const [kept] = collapseCopies([
      letter(0, 't/0/1', 'g', '2026-12-07T01:00:00.000Z'),
      letter(1, 't/0/1', 'g', '2026-12-07T03:00:00.000Z'),
      letter(2, 't/0/1', 'g', '2026-12-07T02:00:00.000Z'),
    ]);
    assert.equal(kept?.replayedAt, '2026-12-07T03:00:00.000Z');
    const [copyOnly] = collapseCopies([
      letter(0, 't/0/1'),
      letter(1, 't/0/1', 'g', '2026-12-07T01:00:00.000Z'),
    ]);
    assert.equal(copyOnly?.replayedAt, '2026-12-07T01:00:00.000Z');
  });

  it('when letters are looked up by ref, then a copy ref finds the letter it copies, and an unknown ref nothing', () => {
    const letters = collapseCopies([letter(0, 't/0/1'), letter(1, 't/0/1')]);
    const byRef = lettersByRef(letters);
    assert.equal(byRef.get('t.dlq/0/1'), letters[0]);
    assert.equal(byRef.get('t.dlq/0/0'), letters[0]);
    assert.equal(byRef.get('t.dlq/0/9'), undefined);
  });
});
