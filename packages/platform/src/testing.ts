// Helpers for the test suites of every package and service (never imported by
// production code): unique names for throwaway databases, topics and groups,
// polling with a deadline, and reading back what a service produced.
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, stringDeserializers } from '@platformatic/kafka';

/**
 * `count` distinct TCP ports free on 127.0.0.1 right now (the kernel's
 * choice), all held open until each is known: ports asked for one after
 * another can come back the same (the first is free again once closed), which
 * once gave a test broker one port for two listeners.
 */
export async function freePorts(count: number): Promise<number[]> {
  const opened = await Promise.allSettled(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const servers = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  // Every one that opened is closed, even when another could not open.
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  const failed = opened.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return ports;
}

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
