// Helpers for the test suites of every package and service (never imported by
// production code): unique names for throwaway databases, topics and groups,
// polling with a deadline, and reading back what a service produced.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, stringDeserializers } from '@platformatic/kafka';

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export async function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Reads a topic from the beginning with a throwaway group until `count`
 * messages arrived, then `settleMs` longer so that extras (a duplicate that
 * should not be there) are caught too.
 */
export function readTopicFrom(
  brokers: string[],
  topic: string,
  count: number,
  timeoutMs: number,
  settleMs = 0,
): Promise<Message<string, string, string, string>[]> {
  return readTopicUntil(
    brokers,
    topic,
    `${count} messages on ${topic}`,
    (received) => received.length >= count,
    timeoutMs,
    settleMs,
  );
}

/** The same, reading until `done` says what arrived is enough (`what` names it in a timeout). */
export async function readTopicUntil(
  brokers: string[],
  topic: string,
  what: string,
  done: (received: readonly Message<string, string, string, string>[]) => boolean,
  timeoutMs: number,
  settleMs = 0,
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
    await waitUntil(what, () => done(received), timeoutMs);
    if (settleMs > 0) await sleep(settleMs);
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return received;
}
