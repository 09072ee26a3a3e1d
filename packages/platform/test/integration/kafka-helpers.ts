import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, stringDeserializers } from '@platformatic/kafka';
import { pino } from 'pino';

export const brokers = ['127.0.0.1:9092'];
export const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
export const mysqlAdminUrl = 'mysql://root@127.0.0.1:3306/';
export const silentLogger = pino({ level: 'silent' });

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Short group timings so the first join takes well under a second on the test broker. */
export const fastGroupTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
} as const;

export async function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Reads a topic from the beginning with a throwaway group until `count` messages arrived. */
export async function readTopic(
  topic: string,
  count: number,
  timeoutMs: number,
): Promise<Message<string, string, string, string>[]> {
  const consumer = new Consumer<string, string, string, string>({
    groupId: uniqueName('reader'),
    clientId: 'test-reader',
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
    rebalanceTimeout: 6_000,
    maxWaitTime: 100,
  });
  const received: Message<string, string, string, string>[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    stream.on('data', (message) => received.push(message));
    await waitUntil(`${count} messages on ${topic}`, () => received.length >= count, timeoutMs);
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return received;
}
