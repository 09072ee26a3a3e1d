import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, IS_CONTROL, ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka';
import { ensureTopics } from './admin.ts';
import { dlqHeaders } from './consumer.ts';

// Dead letters are read back and, once their cause is fixed, replayed to the
// topic they came from. Every replay is audited: a record per dead letter in
// the `dlq.replays` topic says who replayed it and when, so a second replay
// of the same letter is refused unless asked for. The event keeps its id, so
// even a forced second replay is absorbed by the consumer's inbox.

export const dlqReplaysTopic = 'dlq.replays';

export interface DeadLetter {
  /** `<topic>.dlq/<partition>/<offset>`: how a letter is named on the command line. */
  ref: string;
  dlqTopic: string;
  partition: number;
  offset: bigint;
  /** Where it came from and will be replayed to. */
  topic: string;
  /** The failed message's `topic/partition/offset` per the consumer's headers, when it wrote them. */
  source: string | undefined;
  key: string;
  value: string;
  error: string;
  kind: string;
  group: string;
  failedAt: string;
  /** The event's id and type, when the value is an event envelope. */
  eventId: string | undefined;
  eventType: string | undefined;
  /** When it was replayed already (the latest audit record), else undefined. */
  replayedAt: string | undefined;
  /**
   * The refs of later copies of this same letter (see collapseCopies), not
   * listed on their own; a replay that names one replays this letter.
   */
  copies: string[];
}

export interface ReplayRecord {
  ref: string;
  topic: string;
  eventId: string | undefined;
  replayedAt: string;
  by: string;
}

const readTimeoutMsDefault = 20_000;
/** Letters read per DLQ topic at most: a DLQ is something to empty, not to archive. */
export const deadLettersMax = 10_000;

/** A message as read back from a dead-letter or audit topic. */
interface ReadMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | undefined;
  value: string;
  headers: Map<string, string>;
}

/** What is left to read of one partition: from `next` up to (not including) `end`. */
export interface PartitionToRead {
  topic: string;
  topicId: string;
  partition: number;
  leader: number;
  next: bigint;
  end: bigint;
}

const partitionBytesMax = 1024 * 1024;
const text = (buffer: Buffer | null | undefined): string | undefined => buffer?.toString('utf8') ?? undefined;

/**
 * Every message of the topics, from the start to their end as it is when
 * asked. Read by fetching the partitions straight from their leaders, not as
 * a consumer group: a read is an operator's one look, and a group of its own
 * would cost a join, a sync and a leave per look (seconds on a loaded broker)
 * and leave an empty group behind each time. A fetch that fails (a leader
 * moved, retention trimmed the log meanwhile) is tried again after looking
 * the partitions up afresh, until `readTimeoutMs` is spent.
 */
async function readToEnd(brokers: string[], topics: string[], readTimeoutMs: number): Promise<ReadMessage[]> {
  const deadline = Date.now() + readTimeoutMs;
  const requestTimeoutMs = Math.min(5_000, readTimeoutMs);
  const admin = new Admin({
    clientId: 'nuri-dlq',
    bootstrapBrokers: brokers,
    timeout: requestTimeoutMs,
    connectTimeout: requestTimeoutMs,
    retries: 1,
  });
  // The client needs a group id to be built; no group is joined: fetch() is a plain Fetch request.
  const reader = new Consumer({
    groupId: 'nuri-dlq-reader',
    clientId: 'nuri-dlq-reader',
    bootstrapBrokers: brokers,
    timeout: requestTimeoutMs,
    connectTimeout: requestTimeoutMs,
    retries: 0,
  });
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((topic) => existing.has(topic));
    if (present.length === 0) return [];
    const located = await locate(admin, present);
    const messages: ReadMessage[] = [];
    const messagesMax = deadLettersMax * topics.length;
    await readPartitions(
      [...located.values()],
      {
        fetch: (leader, partitions) => fetchOnce(reader, leader, partitions, messages, messagesMax),
        locate: (pending) => locate(admin, [...new Set(pending.map((partition) => partition.topic))]),
      },
      deadline,
      topics.join(', '),
    );
    return messages.sort((a, b) =>
      a.topic === b.topic
        ? a.partition - b.partition || Number(a.offset - b.offset)
        : a.topic < b.topic
          ? -1
          : 1,
    );
  } finally {
    await Promise.allSettled([admin.close(), reader.close()]);
  }
}

/** How readPartitions reaches the broker (a seam for the unit test of its rounds). */
export interface PartitionReads {
  /** One Fetch of these partitions from `leader`, moving each one's `next` past what it read. */
  fetch(leader: number, partitions: PartitionToRead[]): Promise<void>;
  /** Where the partitions live now and where their logs start now, keyed `topic/partition`. */
  locate(partitions: PartitionToRead[]): Promise<Map<string, PartitionToRead>>;
}

/**
 * Reads every partition up to its end, a Fetch per leader per round. A round
 * that failed or moved nothing (a leader moved, retention trimmed the log)
 * is followed by a short pause and a fresh look at leaders and log starts —
 * what was read stays read — until `deadline` (epoch ms) has passed.
 */
export async function readPartitions(
  partitions: PartitionToRead[],
  io: PartitionReads,
  deadline: number,
  what: string,
  pauseMs = 100,
): Promise<void> {
  let pending = partitions.filter((partition) => partition.next < partition.end);
  while (pending.length > 0) {
    const nextBefore = pending.map((partition) => partition.next);
    const rounds = await Promise.allSettled(
      [...Map.groupBy(pending, (partition) => partition.leader)].map(([leader, led]) =>
        io.fetch(leader, led),
      ),
    );
    const failure = rounds.find((round) => round.status === 'rejected');
    const moved = pending.some((partition, index) => partition.next !== nextBefore[index]);
    pending = pending.filter((partition) => partition.next < partition.end);
    if (pending.length === 0) return;
    if (failure === undefined && moved) continue;
    if (Date.now() > deadline) {
      throw new Error(`reading ${what} did not finish in time`, { cause: failure?.reason });
    }
    await sleep(pauseMs);
    // A look that fails (the broker still electing) counts as one more failed round.
    const now = await io.locate(pending).catch(() => new Map<string, PartitionToRead>());
    for (const partition of pending) {
      const fresh = now.get(`${partition.topic}/${partition.partition}`);
      if (fresh === undefined) continue;
      partition.leader = fresh.leader;
      if (fresh.next > partition.next) partition.next = fresh.next;
    }
    pending = pending.filter((partition) => partition.next < partition.end);
  }
}

/** Each partition of the topics: its leader, its log start (what retention kept) and its end now. */
async function locate(admin: Admin, topics: string[]): Promise<Map<string, PartitionToRead>> {
  const metadata = await admin.metadata({ topics, forceUpdate: true });
  const offsetsAt = (timestamp: bigint) =>
    admin.listOffsets({
      topics: topics.map((name) => ({
        name,
        partitions: (metadata.topics.get(name)?.partitions ?? []).map((_partition, index) => ({
          partitionIndex: index,
          timestamp,
        })),
      })),
    });
  // -2: the log's start; -1: its end.
  const [starts, ends] = await Promise.all([offsetsAt(-2n), offsetsAt(-1n)]);
  const startOf = new Map<string, bigint>();
  for (const topic of starts) {
    for (const partition of topic.partitions)
      startOf.set(`${topic.name}/${partition.partitionIndex}`, partition.offset);
  }
  const located = new Map<string, PartitionToRead>();
  for (const topic of ends) {
    const topicMetadata = metadata.topics.get(topic.name);
    if (topicMetadata === undefined) continue;
    for (const partition of topic.partitions) {
      const key = `${topic.name}/${partition.partitionIndex}`;
      located.set(key, {
        topic: topic.name,
        topicId: topicMetadata.id,
        partition: partition.partitionIndex,
        leader: topicMetadata.partitions[partition.partitionIndex]?.leader ?? -1,
        next: startOf.get(key) ?? 0n,
        end: partition.offset,
      });
    }
  }
  return located;
}

/** One Fetch of these partitions from their leader; appends what it read and moves each partition's `next`. */
async function fetchOnce(
  reader: Consumer,
  leader: number,
  partitions: PartitionToRead[],
  messages: ReadMessage[],
  messagesMax: number,
): Promise<void> {
  // A partition with an error fails the whole response (the client throws): the caller looks again.
  const response = await reader.fetch({
    node: leader,
    maxWaitTime: 0,
    minBytes: 1,
    maxBytes: partitionBytesMax * 8,
    topics: partitions.map((partition) => ({
      topicId: partition.topicId,
      partitions: [
        {
          partition: partition.partition,
          fetchOffset: partition.next,
          partitionMaxBytes: partitionBytesMax,
          currentLeaderEpoch: -1,
          lastFetchedEpoch: -1,
        },
      ],
    })),
  });
  for (const topicResponse of response.responses) {
    for (const partitionResponse of topicResponse.partitions) {
      const partition = partitions.find(
        (candidate) =>
          candidate.topicId === topicResponse.topicId &&
          candidate.partition === partitionResponse.partitionIndex,
      );
      if (partition === undefined) continue;
      for (const batch of partitionResponse.records ?? []) {
        const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
        // Transaction markers carry no message, only the offsets they take.
        if ((batch.attributes & IS_CONTROL) === 0) {
          for (const record of batch.records) {
            const offset = batch.firstOffset + BigInt(record.offsetDelta);
            // A batch may start before the offset asked for, and run past the end taken.
            if (offset < partition.next || offset >= partition.end) continue;
            messages.push({
              topic: partition.topic,
              partition: partition.partition,
              offset,
              key: text(record.key),
              value: text(record.value) ?? '',
              headers: new Map(
                record.headers.map(([name, value]) => [text(name) ?? '', text(value) ?? ''] as const),
              ),
            });
          }
        }
        if (batchEnd > partition.next) partition.next = batchEnd;
      }
    }
  }
  // Past the cap the rest is not read at all: a DLQ is something to empty, not to archive.
  if (messages.length >= messagesMax) {
    messages.length = messagesMax;
    for (const partition of partitions) partition.next = partition.end;
  }
}

/** The dead letters of these DLQ topics, each with its last replay if any. */
export async function listDeadLetters(
  brokers: string[],
  dlqTopics: string[],
  replaysTopic: string,
  options: { readTimeoutMs?: number } = {},
): Promise<DeadLetter[]> {
  const readTimeoutMs = options.readTimeoutMs ?? readTimeoutMsDefault;
  const [letters, replays] = await Promise.all([
    readToEnd(brokers, dlqTopics, readTimeoutMs),
    readReplays(brokers, replaysTopic, readTimeoutMs),
  ]);
  const read = letters.map((message): DeadLetter => {
    const header = (name: string) => message.headers.get(name) ?? '';
    const ref = `${message.topic}/${message.partition}/${message.offset}`;
    let eventId: string | undefined;
    let eventType: string | undefined;
    try {
      const parsed = JSON.parse(message.value) as { id?: unknown; type?: unknown };
      if (typeof parsed.id === 'string') eventId = parsed.id;
      if (typeof parsed.type === 'string') eventType = parsed.type;
    } catch {
      // Not JSON: it was dead-lettered for that very reason.
    }
    const topic = header(dlqHeaders.topic) || message.topic.replace(/\.dlq$/, '');
    const sourcePartition = header(dlqHeaders.partition);
    const sourceOffset = header(dlqHeaders.offset);
    return {
      ref,
      dlqTopic: message.topic,
      partition: message.partition,
      offset: message.offset,
      topic,
      source:
        sourcePartition === '' || sourceOffset === ''
          ? undefined
          : `${topic}/${sourcePartition}/${sourceOffset}`,
      key: message.key ?? '',
      value: message.value ?? '',
      error: header(dlqHeaders.error),
      kind: header(dlqHeaders.kind),
      group: header(dlqHeaders.group),
      failedAt: header(dlqHeaders.failedAt),
      eventId,
      eventType,
      replayedAt: replays.get(ref)?.replayedAt,
      copies: [],
    };
  });
  return collapseCopies(read);
}

/**
 * One letter per message that failed: a consumer group writes a dead letter
 * at least once, not exactly once. When its partition moves to another member
 * between the DLQ send and the offset commit (core-payment runs two deposit
 * consumers in one group: the second's join can take a partition from the
 * first just after it read), or the process dies there, the new owner
 * dead-letters the same message again. The
 * copies name the same source (topic, partition, offset) and group in their
 * headers and carry the same key and value; the first written is kept, the
 * others become its `copies` (the letters given are not changed), and it
 * counts as replayed if any copy was. Letters without those headers (not
 * written by this system's consumer) are each their own.
 */
export function collapseCopies(letters: readonly DeadLetter[]): DeadLetter[] {
  const kept: DeadLetter[] = [];
  const firstBySource = new Map<string, DeadLetter>();
  for (const letter of letters) {
    // Copies are the same bytes: a topic recreated under the same name can
    // fail another message at the same offset, which is a letter of its own.
    const source =
      letter.source === undefined
        ? undefined
        : JSON.stringify([letter.group, letter.source, letter.key, letter.value]);
    const first = source === undefined ? undefined : firstBySource.get(source);
    if (first === undefined) {
      const own = { ...letter, copies: [...letter.copies] };
      if (source !== undefined) firstBySource.set(source, own);
      kept.push(own);
      continue;
    }
    first.copies.push(letter.ref);
    const { replayedAt } = letter;
    if (replayedAt !== undefined && (first.replayedAt === undefined || replayedAt > first.replayedAt))
      first.replayedAt = replayedAt;
  }
  return kept;
}

/** Each letter under its ref and under the refs of its copies. */
export function lettersByRef(letters: readonly DeadLetter[]): Map<string, DeadLetter> {
  const byRef = new Map<string, DeadLetter>();
  for (const letter of letters) {
    byRef.set(letter.ref, letter);
    for (const copy of letter.copies) byRef.set(copy, letter);
  }
  return byRef;
}

async function readReplays(
  brokers: string[],
  replaysTopic: string,
  readTimeoutMs: number,
): Promise<Map<string, ReplayRecord>> {
  const records = new Map<string, ReplayRecord>();
  for (const message of await readToEnd(brokers, [replaysTopic], readTimeoutMs)) {
    try {
      const record = JSON.parse(message.value) as ReplayRecord;
      records.set(record.ref, record);
    } catch {
      // An audit record that is not ours is skipped, not trusted.
    }
  }
  return records;
}

/**
 * Sends each letter back to its topic (same key, same value, so the same
 * event id) and records the replay; letters replayed before are skipped unless
 * `again`. Returns what was replayed and what was skipped.
 */
export async function replayDeadLetters(
  brokers: string[],
  letters: readonly DeadLetter[],
  replaysTopic: string,
  options: { again?: boolean; by?: string } = {},
): Promise<{ replayed: DeadLetter[]; skipped: DeadLetter[] }> {
  const chosen = letters.filter((letter) => options.again === true || letter.replayedAt === undefined);
  const skipped = letters.filter((letter) => !chosen.includes(letter));
  if (chosen.length === 0) return { replayed: [], skipped };
  await ensureTopics({ brokers, topics: [{ name: replaysTopic, partitions: 1 }] });
  const producer = new Producer<string, string, string, string>({
    clientId: 'nuri-dlq-replay',
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    autocreateTopics: false,
  });
  // Who asked, for the audit record: the operator's login on the command line by default.
  const by = options.by ?? `${userInfo().username}@${hostname()}`;
  try {
    for (const letter of chosen) {
      await producer.send({
        messages: [
          {
            topic: letter.topic,
            key: letter.key,
            value: letter.value,
            headers: new Map([['x-replayed-from', letter.ref]]),
          },
        ],
      });
      const record: ReplayRecord = {
        ref: letter.ref,
        topic: letter.topic,
        eventId: letter.eventId,
        replayedAt: new Date().toISOString(),
        by,
      };
      await producer.send({
        messages: [{ topic: replaysTopic, key: letter.ref, value: JSON.stringify(record) }],
      });
    }
  } finally {
    await producer.close();
  }
  return { replayed: chosen, skipped };
}
