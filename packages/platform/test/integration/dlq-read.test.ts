import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { dlqHeaders } from '../../src/kafka/consumer.ts';
import { deadLettersMax, listDeadLetters, replayDeadLetters } from '../../src/kafka/dlq.ts';
import { brokers, uniqueName } from './kafka-helpers.ts';

// Dead letters are read back by fetching each partition from its leader, with
// no consumer group: these tests put letters in chosen partitions (one left
// empty, one whose log start retention moved) and read them back exactly.

describe('reading dead letters', { timeout: 60_000 }, () => {
  const source = uniqueName('it.dlqread');
  const dlq = `${source}.dlq`;
  const replays = uniqueName('it.dlqread.replays');
  const admin = new Admin({ clientId: 'it-dlq-read', bootstrapBrokers: brokers });
  const producer = new Producer<string, string, string, string>({
    clientId: 'it-dlq-read',
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
  });

  const letter = (partition: number, n: number, value?: string) => ({
    topic: dlq,
    partition,
    key: `key-${n}`,
    value: value ?? JSON.stringify({ id: `event-${n}`, type: 'deposit.requested', n }),
    headers: new Map<string, string>([
      [dlqHeaders.topic, source],
      [dlqHeaders.error, `error ${n}`],
      [dlqHeaders.kind, 'validation'],
      [dlqHeaders.group, 'it-group'],
      [dlqHeaders.failedAt, '2026-12-06T00:00:00.000Z'],
    ]),
  });

  before(async () => {
    await ensureTopics({
      brokers,
      topics: [
        { name: source, partitions: 1 },
        { name: dlq, partitions: 3 },
      ],
    });
    // Partition 0: three letters, the first two later removed as retention would.
    // Partition 1: none. Partition 2: two letters sent as one batch, one of them not JSON.
    for (const n of [1, 2, 3]) await producer.send({ messages: [letter(0, n)] });
    await producer.send({ messages: [letter(2, 4), letter(2, 5, '{"not json')] });
    await admin.deleteRecords({ topics: [{ name: dlq, partitions: [{ partition: 0, offset: 2n }] }] });
  });

  after(async () => {
    await producer.close();
    await admin.close();
    await deleteTopics(brokers, [source, dlq, replays]);
  });

  it('when letters sit in some partitions and retention moved a log start, then every letter kept is listed once, in order, with its headers, and no consumer group is left behind', async () => {
    // Other test files share the broker and make groups of their own meanwhile: only the reader's name counts.
    const readerGroups = async () =>
      new Set([...(await admin.listGroups()).keys()].filter((group) => group.startsWith('nuri-dlq')));
    const groupsBefore = await readerGroups();
    const letters = await listDeadLetters(brokers, [dlq], replays);
    assert.deepEqual(
      letters.map((l) => [l.ref, l.key, l.eventId, l.error]),
      [
        [`${dlq}/0/2`, 'key-3', 'event-3', 'error 3'],
        [`${dlq}/2/0`, 'key-4', 'event-4', 'error 4'],
        [`${dlq}/2/1`, 'key-5', undefined, 'error 5'],
      ],
    );
    const [first] = letters;
    assert.equal(first?.topic, source);
    assert.equal(first?.kind, 'validation');
    assert.equal(first?.group, 'it-group');
    assert.equal(first?.eventType, 'deposit.requested');
    assert.equal(first?.replayedAt, undefined);
    assert.equal(letters[2]?.value, '{"not json');
    const groupsAfter = [...(await readerGroups())].filter((group) => !groupsBefore.has(group));
    assert.deepEqual(groupsAfter, [], 'a read joins no consumer group');
  });

  it('when a letter is replayed, then the next read shows its replay and a second replay skips it', async () => {
    const letters = await listDeadLetters(brokers, [dlq], replays);
    const chosen = letters.filter((l) => l.ref === `${dlq}/2/0`);
    const first = await replayDeadLetters(brokers, chosen, replays, { by: 'it' });
    assert.deepEqual(
      first.replayed.map((l) => l.ref),
      [`${dlq}/2/0`],
    );
    const after = await listDeadLetters(brokers, [dlq], replays);
    assert.deepEqual(
      after.map((l) => [l.ref, l.replayedAt !== undefined]),
      [
        [`${dlq}/0/2`, false],
        [`${dlq}/2/0`, true],
        [`${dlq}/2/1`, false],
      ],
    );
    const second = await replayDeadLetters(
      brokers,
      after.filter((l) => l.ref === `${dlq}/2/0`),
      replays,
    );
    assert.deepEqual(second.replayed, []);
    assert.deepEqual(
      second.skipped.map((l) => l.ref),
      [`${dlq}/2/0`],
    );
  });

  it('when a consumer group wrote one failed message twice, then it is listed once, its copy named, and a replay of it counts for both', async () => {
    const twice = uniqueName('it.dlqread.twice');
    await ensureTopics({ brokers, topics: [{ name: twice, partitions: 1 }] });
    try {
      // What a consumer writes (its headers name the failed message), once by
      // each member that held the partition, and once by another group.
      const written = (n: number, group: string) => {
        // Copies are the same message: the same key and value, whoever wrote them.
        const base = { ...letter(0, n, '{"not json'), key: 'key-41' };
        base.headers.set(dlqHeaders.partition, '1');
        base.headers.set(dlqHeaders.offset, '41');
        base.headers.set(dlqHeaders.group, group);
        return { ...base, topic: twice };
      };
      for (const [n, group] of [
        [1, 'it-group'],
        [2, 'it-group'],
        [3, 'it-other'],
      ] as const)
        await producer.send({ messages: [written(n, group)] });
      const letters = await listDeadLetters(brokers, [twice], replays);
      assert.deepEqual(
        letters.map((l) => [l.ref, l.group, l.source, l.copies]),
        [
          [`${twice}/0/0`, 'it-group', `${source}/1/41`, [`${twice}/0/1`]],
          [`${twice}/0/2`, 'it-other', `${source}/1/41`, []],
        ],
      );
      await replayDeadLetters(brokers, [letters[0]!], replays, { by: 'it' });
      const after = await listDeadLetters(brokers, [twice], replays);
      assert.deepEqual(
        after.map((l) => [l.ref, l.replayedAt !== undefined]),
        [
          [`${twice}/0/0`, true],
          [`${twice}/0/2`, false],
        ],
      );
    } finally {
      await deleteTopics(brokers, [twice]);
    }
  });

  it('when a partition holds more than one fetch returns (2.4 MB), then the read goes on until its end and every letter comes once', async () => {
    const big = uniqueName('it.dlqread.big');
    await ensureTopics({ brokers, topics: [{ name: big, partitions: 1 }] });
    try {
      const padding = 'x'.repeat(8_000);
      for (let chunk = 0; chunk < 6; chunk++) {
        await producer.send({
          messages: Array.from({ length: 50 }, (_, i) => ({
            ...letter(0, chunk * 50 + i, JSON.stringify({ id: `event-${chunk * 50 + i}`, padding })),
            topic: big,
          })),
        });
      }
      const letters = await listDeadLetters(brokers, [big], replays);
      assert.equal(letters.length, 300);
      assert.deepEqual(
        letters.map((l) => l.eventId),
        Array.from({ length: 300 }, (_, i) => `event-${i}`),
      );
    } finally {
      await deleteTopics(brokers, [big]);
    }
  });

  it('when a DLQ holds more than the read keeps, then exactly deadLettersMax letters come back, the first of each partition', async () => {
    const crowded = uniqueName('it.dlqread.crowded');
    await ensureTopics({ brokers, topics: [{ name: crowded, partitions: 2 }] });
    try {
      for (let chunk = 0; chunk < 11; chunk++) {
        await producer.send({
          messages: Array.from({ length: 1_000 }, (_, i) => ({
            ...letter(i % 2, chunk * 1_000 + i, `{"n":${chunk * 1_000 + i}}`),
            topic: crowded,
          })),
        });
      }
      const letters = await listDeadLetters(brokers, [crowded], replays);
      assert.equal(letters.length, deadLettersMax);
      assert.equal(new Set(letters.map((l) => l.ref)).size, deadLettersMax, 'each letter once');
      for (const p of [0, 1]) {
        assert.ok(
          letters.some((l) => l.ref === `${crowded}/${p}/0`),
          `partition ${p} read from its start`,
        );
      }
    } finally {
      await deleteTopics(brokers, [crowded]);
    }
  });

  it('when the topics do not exist or are empty, then the read is empty', async () => {
    assert.deepEqual(await listDeadLetters(brokers, [uniqueName('it.dlqread.none')], replays), []);
    const empty = uniqueName('it.dlqread.empty');
    await ensureTopics({ brokers, topics: [{ name: empty, partitions: 2 }] });
    try {
      assert.deepEqual(await listDeadLetters(brokers, [empty], replays), []);
    } finally {
      await deleteTopics(brokers, [empty]);
    }
  });
});
