import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { setErrorName } from '../errors.ts';

export interface TopicSpec {
  name: string;
  partitions: number;
}

export interface EnsureTopicsOptions {
  brokers: string[];
  topics: readonly TopicSpec[];
  replicationFactor?: number;
  clientId?: string;
  /** Bound on the whole call, including waiting for new partitions to get leaders. */
  timeoutMs?: number;
}

const topicAlreadyExistsCode = 36;
const leaderPollIntervalMs = 100;

function createAdmin(brokers: string[], clientId: string, requestTimeoutMs: number): Admin {
  return new Admin({
    clientId,
    bootstrapBrokers: brokers,
    timeout: requestTimeoutMs,
    retries: 0,
    connectTimeout: requestTimeoutMs,
  });
}

// The client wraps broker errors in aggregates; the broker's code sits somewhere inside.
function hasBrokerErrorCode(error: unknown, apiCode: number, depth = 0): boolean {
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const candidate = error as { apiCode?: unknown; errors?: unknown; cause?: unknown };
  if (candidate.apiCode === apiCode) return true;
  if (Array.isArray(candidate.errors)) {
    return candidate.errors.some((inner) => hasBrokerErrorCode(inner, apiCode, depth + 1));
  }
  return hasBrokerErrorCode(candidate.cause, apiCode, depth + 1);
}

/**
 * Creates the topics that are missing; existing ones are left as they are
 * (their partition count is not changed). Resolves once every topic has a
 * leader for each partition, so producing right after does not race the broker.
 * Returns the names this call created.
 */
export async function ensureTopics(options: EnsureTopicsOptions): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const admin = createAdmin(options.brokers, options.clientId ?? 'nuri-admin', Math.min(timeoutMs, 10_000));
  try {
    const existing = new Set(await admin.listTopics());
    const created: string[] = [];
    for (const topic of options.topics) {
      if (existing.has(topic.name)) continue;
      try {
        await admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas: options.replicationFactor ?? 1,
        });
        created.push(topic.name);
      } catch (error) {
        // Another process created it between our list and our create.
        if (!hasBrokerErrorCode(error, topicAlreadyExistsCode)) throw error;
      }
    }
    await waitForLeaders(
      admin,
      options.topics.map((topic) => topic.name),
      deadline,
    );
    return created;
  } finally {
    await admin.close();
  }
}

async function waitForLeaders(admin: Admin, names: string[], deadline: number): Promise<void> {
  for (;;) {
    try {
      const metadata = await admin.metadata({ topics: names, forceUpdate: true });
      const ready = names.every((name) => {
        const topic = metadata.topics.get(name);
        return topic?.partitions.every((partition) => partition.leader >= 0) === true;
      });
      if (ready) return;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    if (Date.now() >= deadline) throw new Error(`topics ${names.join(', ')} have no leaders yet`);
    await sleep(leaderPollIntervalMs);
  }
}

export class BrokerUnavailableError extends Error {
  constructor(brokers: string[], timeoutMs: number, cause: unknown) {
    super(`no Kafka broker answered at ${brokers.join(',')} within ${timeoutMs} ms`, { cause });
    setErrorName(this, 'BrokerUnavailableError');
  }
}

/** Resolves once a metadata request succeeds; rejects after `timeoutMs`. */
export async function waitForBroker(brokers: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const admin = createAdmin(
      brokers,
      'nuri-wait-for-broker',
      Math.max(250, Math.min(2_000, deadline - Date.now())),
    );
    try {
      await admin.metadata({ topics: [] });
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await admin.close().catch(() => {});
    }
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
  throw new BrokerUnavailableError(brokers, timeoutMs, lastError);
}

export interface BrokerProbe {
  /** Resolves when the broker answers a metadata request within `timeoutMs`. */
  check(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A readiness check for the broker that keeps one client and its connection
 * for the life of the process: probes arrive every second from several
 * callers, and a client per probe would open (and close) a broker connection
 * each time.
 */
export function createBrokerProbe(brokers: string[], clientId: string): BrokerProbe {
  const requestTimeoutMs = 2_000;
  let admin = createAdmin(brokers, clientId, requestTimeoutMs);
  let closed = false;
  return {
    async check(timeoutMs) {
      if (closed) throw new Error('broker probe closed');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new BrokerUnavailableError(brokers, timeoutMs, undefined)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([admin.metadata({ topics: [] }), timeout]);
      } catch (error) {
        // A client whose connection broke may not recover by itself: the next probe starts afresh.
        const broken = admin;
        admin = createAdmin(brokers, clientId, requestTimeoutMs);
        void broken.close().catch(() => {});
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      await admin.close().catch(() => {});
    },
  };
}

/** Deletes topics; missing ones are ignored. Meant for tests and benchmarks that make throwaway topics. */
export async function deleteTopics(
  brokers: string[],
  names: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  if (names.length === 0) return;
  const admin = createAdmin(brokers, 'nuri-admin', timeoutMs);
  try {
    const existing = new Set(await admin.listTopics());
    const present = names.filter((name) => existing.has(name));
    if (present.length > 0) await admin.deleteTopics({ topics: present });
  } finally {
    await admin.close();
  }
}
