import { hostname, userInfo } from 'node:os';
import {
  Admin,
  Consumer,
  type Message,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
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

/** Every message of the topics, from the start to their end as it is when asked. */
async function readToEnd(
  brokers: string[],
  topics: string[],
  readTimeoutMs: number,
): Promise<Array<Message<string, string, string, string>>> {
  const adminTimeoutMs = Math.min(5_000, readTimeoutMs);
  const admin = new Admin({
    clientId: 'nuri-dlq',
    bootstrapBrokers: brokers,
    timeout: adminTimeoutMs,
    connectTimeout: adminTimeoutMs,
    retries: 1,
  });
  const ends = new Map<string, bigint>();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((topic) => existing.has(topic));
    if (present.length === 0) return [];
    const metadata = await admin.metadata({ topics: present, forceUpdate: true });
    const listed = await admin.listOffsets({
      topics: present.map((name) => ({
        name,
        partitions: (metadata.topics.get(name)?.partitions ?? []).map((_partition, index) => ({
          partitionIndex: index,
          timestamp: -1n,
        })),
      })),
    });
    for (const topic of listed) {
      for (const partition of topic.partitions) {
        if (partition.offset > 0n) ends.set(`${topic.name}/${partition.partitionIndex}`, partition.offset);
      }
    }
  } finally {
    await admin.close();
  }
  if (ends.size === 0) return [];
  const consumer = new Consumer<string, string, string, string>({
    groupId: `nuri-dlq-reader-${process.pid}-${Date.now()}`,
    clientId: 'nuri-dlq-reader',
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    maxWaitTime: 200,
  });
  const messages: Array<Message<string, string, string, string>> = [];
  const remaining = new Set(ends.keys());
  try {
    const stream = await consumer.consume({
      topics: [...new Set([...ends.keys()].map((key) => key.slice(0, key.lastIndexOf('/'))))],
      mode: 'earliest',
      autocommit: false,
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topics.join(', ')} took over ${readTimeoutMs} ms`)),
        readTimeoutMs,
      );
      stream.on('data', (message) => {
        const slot = `${message.topic}/${message.partition}`;
        const end = ends.get(slot);
        if (end === undefined || message.offset >= end) return;
        if (messages.length < deadLettersMax * topics.length) messages.push(message);
        if (message.offset >= end - 1n) remaining.delete(slot);
        if (remaining.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return messages;
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
  return letters.map((message) => {
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
    return {
      ref,
      dlqTopic: message.topic,
      partition: message.partition,
      offset: message.offset,
      topic: header(dlqHeaders.topic) || message.topic.replace(/\.dlq$/, ''),
      key: message.key ?? '',
      value: message.value ?? '',
      error: header(dlqHeaders.error),
      kind: header(dlqHeaders.kind),
      group: header(dlqHeaders.group),
      failedAt: header(dlqHeaders.failedAt),
      eventId,
      eventType,
      replayedAt: replays.get(ref)?.replayedAt,
    };
  });
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
