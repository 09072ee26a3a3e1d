import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';

const pollIntervalMs = 200;
const requestTimeoutMs = 2_000;

/**
 * Tells when the mirror consumer has handled coupon.issued up to the end of
 * every partition as it was when asked (its committed offsets reach the log
 * end). Offsets are committed after MySQL has the rows, so from then on MySQL
 * holds every coupon that Kafka acked before the call.
 */
export function createMirrorProgress(options: { brokers: string[]; topic: string; groupId: string }) {
  const { brokers, topic, groupId } = options;

  async function endOffsets(admin: Admin): Promise<Map<number, bigint>> {
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
    const partitions = metadata.topics.get(topic)?.partitions ?? [];
    const listed = await admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: partitions.map((_partition, index) => ({ partitionIndex: index, timestamp: -1n })),
        },
      ],
    });
    const ends = new Map<number, bigint>();
    for (const partition of listed[0]?.partitions ?? []) ends.set(partition.partitionIndex, partition.offset);
    return ends;
  }

  async function committedOffsets(admin: Admin, partitions: number[]): Promise<Map<number, bigint>> {
    const groups = await admin.listConsumerGroupOffsets({
      groups: [{ groupId, topics: [{ name: topic, partitionIndexes: partitions }] }],
    });
    const committed = new Map<number, bigint>();
    for (const partition of groups[0]?.topics.find((t) => t.name === topic)?.partitions ?? []) {
      committed.set(partition.partitionIndex, partition.committedOffset);
    }
    return committed;
  }

  return {
    async waitUntilCaughtUp(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      const admin = new Admin({
        clientId: 'coupon-mirror-progress',
        bootstrapBrokers: brokers,
        timeout: requestTimeoutMs,
        connectTimeout: requestTimeoutMs,
        retries: 0,
      });
      try {
        const ends = await endOffsets(admin);
        for (;;) {
          const committed = await committedOffsets(admin, [...ends.keys()]);
          const behind = [...ends].filter(
            ([partition, end]) => end > 0n && (committed.get(partition) ?? -1n) < end,
          );
          if (behind.length === 0) return;
          if (Date.now() > deadline) {
            throw new Error(`the coupon.issued mirror is still behind on ${behind.length} partition(s)`);
          }
          await sleep(pollIntervalMs);
        }
      } finally {
        await admin.close().catch(() => {});
      }
    },
  };
}
