import { Admin } from '@platformatic/kafka';

// How far each consumer group is behind on each topic it reads: per
// partition, the log end offset minus the group's committed offset (where the
// group would resume). A partition the group never committed on counts from
// the log start, since the consumers start from the earliest offset
// (consumer.ts, fallbackMode). Read through the admin API only: nothing joins
// a group or reads a message.

export interface ConsumerGroupTopics {
  group: string;
  topics: readonly string[];
}

export interface TopicLag {
  group: string;
  topic: string;
  /** Messages not yet committed by the group, summed over the topic's partitions. */
  lag: number;
  partitions: number;
}

export interface ConsumerLagReport {
  items: TopicLag[];
  /** False when the broker did not answer within the time allowed: then there are no items. */
  brokerReachable: boolean;
}

export interface PartitionOffsets {
  /** Log start (earliest offset still held). */
  start: bigint;
  /** Log end (the next offset to be written). */
  end: bigint;
  /** The group's committed offset; negative when it never committed on this partition. */
  committed: bigint;
}

/** The messages a group has yet to get past on these partitions. */
export function lagOf(partitions: readonly PartitionOffsets[]): bigint {
  let lag = 0n;
  for (const { start, end, committed } of partitions) {
    const from = committed < 0n ? start : committed;
    // A committed offset past the end (a topic recreated, or a retention race) is no lag.
    if (end > from) lag += end - from;
  }
  return lag;
}

/**
 * The lag of every group on each of its topics. Every broker call is bounded
 * by `timeoutMs` in all: past it, or on any broker error, the answer is
 * `brokerReachable: false` rather than a hang or a throw.
 */
export async function readConsumerLag(
  brokers: string[],
  groups: readonly ConsumerGroupTopics[],
  options: { timeoutMs: number; clientId?: string },
): Promise<ConsumerLagReport> {
  const admin = new Admin({
    clientId: options.clientId ?? 'nuri-lag',
    bootstrapBrokers: brokers,
    timeout: options.timeoutMs,
    connectTimeout: options.timeoutMs,
    retries: 0,
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), options.timeoutMs);
  });
  try {
    const items = await Promise.race([readLag(admin, groups), timedOut]);
    return items === undefined ? { items: [], brokerReachable: false } : { items, brokerReachable: true };
  } catch {
    return { items: [], brokerReachable: false };
  } finally {
    clearTimeout(timer);
    // Closing waits for nothing the answer needs; a broker gone mid-call must not hold it.
    void admin.close().catch(() => {});
  }
}

async function readLag(admin: Admin, groups: readonly ConsumerGroupTopics[]): Promise<TopicLag[]> {
  const wanted = [...new Set(groups.flatMap((group) => group.topics))];
  const existing = new Set(await admin.listTopics());
  const present = wanted.filter((topic) => existing.has(topic));
  const partitionCounts = new Map<string, number>();
  if (present.length > 0) {
    const metadata = await admin.metadata({ topics: present, forceUpdate: true });
    for (const topic of present)
      partitionCounts.set(topic, metadata.topics.get(topic)?.partitions.length ?? 0);
  }
  const request = (timestamp: bigint) =>
    present.map((name) => ({
      name,
      partitions: Array.from({ length: partitionCounts.get(name) ?? 0 }, (_unused, partitionIndex) => ({
        partitionIndex,
        timestamp,
      })),
    }));
  const [ends, starts, committed] = await Promise.all([
    present.length === 0 ? [] : admin.listOffsets({ topics: request(-1n) }),
    present.length === 0 ? [] : admin.listOffsets({ topics: request(-2n) }),
    present.length === 0
      ? []
      : admin.listConsumerGroupOffsets({
          groups: groups.map((group) => ({
            groupId: group.group,
            topics: group.topics
              .filter((topic) => partitionCounts.has(topic))
              .map((name) => ({
                name,
                partitionIndexes: Array.from(
                  { length: partitionCounts.get(name)! },
                  (_unused, index) => index,
                ),
              })),
          })),
        }),
  ]);
  const offsetOf = (listed: typeof ends, topic: string, partition: number) =>
    listed.find((entry) => entry.name === topic)?.partitions.find((p) => p.partitionIndex === partition)
      ?.offset ?? 0n;
  return groups.flatMap((group) =>
    group.topics.map((topic) => {
      const partitions = partitionCounts.get(topic) ?? 0;
      const committedTopic = committed
        .find((entry) => entry.groupId === group.group)
        ?.topics.find((entry) => entry.name === topic);
      const offsets = Array.from({ length: partitions }, (_unused, partition) => ({
        start: offsetOf(starts, topic, partition),
        end: offsetOf(ends, topic, partition),
        committed:
          committedTopic?.partitions.find((entry) => entry.partitionIndex === partition)?.committedOffset ??
          -1n,
      }));
      return { group: group.group, topic, lag: Number(lagOf(offsets)), partitions };
    }),
  );
}
