import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import { readConsumerLag } from '../../src/kafka/lag.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import { brokers, uniqueName } from './kafka-helpers.ts';

// Consumer lag read from a real broker: committed offsets against log ends,
// through the admin API alone.

describe('consumer lag', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.lag');
  const missing = uniqueName('it.lag-missing');
  const behind = uniqueName('it-lag-behind');
  const fresh = uniqueName('it-lag-fresh');
  const producer = createEventProducer({ brokers, clientId: 'it-lag' });

  before(async () => {
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 2 }] });
    await producer.sendRaw(
      Array.from({ length: 5 }, (_unused, index) => ({ topic, key: 'same-key', value: `m${index}` })),
    );
  });

  after(async () => {
    await producer.close();
    await deleteTopics(brokers, [topic]);
  });

  it('when a group committed part of a topic, then its lag is the rest; a group that never committed owes it all', async () => {
    // Every message went to the key's partition; the group committed past two of them there.
    const admin = new Admin({ clientId: 'it-lag-admin', bootstrapBrokers: brokers });
    let partition = 0;
    try {
      const metadata = await admin.metadata({ topics: [topic] });
      const ends = await admin.listOffsets({
        topics: [
          {
            name: topic,
            partitions: (metadata.topics.get(topic)?.partitions ?? []).map((_unused, index) => ({
              partitionIndex: index,
              timestamp: -1n,
            })),
          },
        ],
      });
      partition = ends[0]!.partitions.find((entry) => entry.offset === 5n)!.partitionIndex;
      await admin.alterConsumerGroupOffsets({
        groupId: behind,
        topics: [{ name: topic, partitionOffsets: [{ partition, offset: 2n }] }],
      });
    } finally {
      await admin.close();
    }
    const report = await readConsumerLag(
      brokers,
      [
        { group: behind, topics: [topic] },
        { group: fresh, topics: [topic, missing] },
      ],
      { timeoutMs: 5_000 },
    );
    assert.equal(report.brokerReachable, true);
    assert.deepEqual(report.items, [
      { group: behind, topic, lag: 3, partitions: 2 },
      { group: fresh, topic, lag: 5, partitions: 2 },
      { group: fresh, topic: missing, lag: 0, partitions: 0 },
    ]);
  });

  it('when no broker answers, then brokerReachable is false within the time allowed', async () => {
    const startedAt = Date.now();
    const report = await readConsumerLag(['127.0.0.1:1'], [{ group: behind, topics: [topic] }], {
      timeoutMs: 1_000,
    });
    assert.deepEqual(report, { items: [], brokerReachable: false });
    assert.ok(Date.now() - startedAt < 2_000);
  });
});
