import { ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { setErrorName } from '../errors.ts';
import { contextOfTraceparent, endSpan, SpanKind, startSpan, tracingEnabled } from '../tracing.ts';

/** A send that waited `acquireTimeoutMs` for a free in-flight slot and did not get one. */
export class ProducerBusyError extends Error {
  readonly code = 'PRODUCER_BUSY';
  constructor(inFlightMax: number, acquireTimeoutMs: number) {
    super(`producer has ${inFlightMax} sends in flight; no slot freed within ${acquireTimeoutMs} ms`);
    setErrorName(this, 'ProducerBusyError');
  }
}

export class ProducerClosedError extends Error {
  readonly code = 'PRODUCER_CLOSED';
  constructor() {
    super('producer is closed');
    setErrorName(this, 'ProducerClosedError');
  }
}

interface Waiter {
  grant: () => void;
  timer: NodeJS.Timeout;
}

/**
 * Counting semaphore whose waiters give up after a deadline. The waiting list
 * is bounded too, so a stalled broker turns into fast errors for callers
 * instead of a queue that grows until memory runs out.
 */
export class Semaphore {
  readonly permitsMax: number;
  readonly waitersMax: number;
  #available: number;
  readonly #waiters: Waiter[] = [];

  constructor(permitsMax: number, waitersMax: number) {
    if (!Number.isInteger(permitsMax) || permitsMax < 1) throw new RangeError('permitsMax must be ≥ 1');
    this.permitsMax = permitsMax;
    this.waitersMax = waitersMax;
    this.#available = permitsMax;
  }

  get inUse(): number {
    return this.permitsMax - this.#available;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves true with a permit, or false when none came within `timeoutMs`. */
  acquire(timeoutMs: number): Promise<boolean> {
    if (this.#available > 0) {
      this.#available -= 1;
      return Promise.resolve(true);
    }
    if (timeoutMs <= 0 || this.#waiters.length >= this.waitersMax) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve(true);
        },
        timer: setTimeout(() => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          resolve(false);
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    // The permit passes straight to the next waiter, so a late arrival cannot overtake it.
    if (next !== undefined) {
      next.grant();
      return;
    }
    if (this.#available >= this.permitsMax) throw new Error('semaphore released more often than acquired');
    this.#available += 1;
  }
}

export interface OutgoingMessage {
  topic: string;
  key: string;
  /** The serialised envelope (JSON text). */
  value: string;
  headers?: Record<string, string>;
}

export interface EventProducerOptions {
  brokers: string[];
  clientId: string;
  /** Concurrent `send` calls; each may carry many messages. */
  inFlightMax?: number;
  /** Callers waiting for a slot beyond `inFlightMax`; more fail at once with ProducerBusyError. */
  waitersMax?: number;
  /** How long a caller waits for a free slot before ProducerBusyError. */
  acquireTimeoutMs?: number;
  /** Per request to the broker, including waiting for acks from all in-sync replicas. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Client-level retries of a failed produce request (safe: the producer is idempotent). */
  retriesMax?: number;
  retryDelayMs?: number;
  /**
   * Called with each event before it is serialised; throws to refuse it.
   * Wire it to `validateEvent` from @nuri/contracts so a bad event fails at its producer.
   */
  validate?: (topic: string, event: unknown) => void;
  logger?: Logger;
}

export interface EventToSend {
  topic: string;
  key: string;
  event: unknown;
  headers?: Record<string, string>;
}

export interface EventProducer {
  /** Validates, serialises and sends events; resolves after the broker acked all of them (acks=all). */
  sendEvents(events: readonly EventToSend[]): Promise<void>;
  /** Sends already-serialised messages (the outbox relay holds JSON text); no validation. */
  sendRaw(messages: readonly OutgoingMessage[]): Promise<void>;
  readonly inFlight: number;
  close(): Promise<void>;
}

/**
 * The most one produce request carries, by the messages' own bytes. The
 * client puts each partition's messages of a request into one record batch,
 * and the broker refuses a batch over its message.max.bytes (1 MiB by
 * default) whole, every time: an outbox relay or a DLQ send of many
 * messages with one key (one partition) then failed for good, retried
 * forever, and held back everything behind it (a review measured it:
 * 1,000 deposit events of one account acked, 5,000 refused). Larger sends
 * go as several requests, one after the other; a failure part-way leaves
 * the first ones sent, which a retry sends again (consumers dedupe).
 */
export const sendBytesMax = 768 * 1024;
/** What a record costs beyond its key, value and headers, about (lengths, offsets, attributes). */
const recordOverheadBytes = 32;

/** The messages in order, cut into runs of at most `bytesMax` each (a larger message alone). */
export function chunksWithin(
  messages: readonly OutgoingMessage[],
  bytesMax: number,
): (readonly OutgoingMessage[])[] {
  if (messages.length === 1) return [messages];
  const chunks: OutgoingMessage[][] = [];
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message);
    if (chunk.length > 0 && bytes + size > bytesMax) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function messageBytes(message: OutgoingMessage): number {
  let bytes = recordOverheadBytes + Buffer.byteLength(message.key) + Buffer.byteLength(message.value);
  if (message.headers !== undefined) {
    for (const name in message.headers)
      bytes += Buffer.byteLength(name) + Buffer.byteLength(message.headers[name] ?? '') + 2;
  }
  return bytes;
}

export function createEventProducer(options: EventProducerOptions): EventProducer {
  const inFlightMax = options.inFlightMax ?? 5;
  const acquireTimeoutMs = options.acquireTimeoutMs ?? 5_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const slots = new Semaphore(inFlightMax, options.waitersMax ?? 1_000);
  const producer = new Producer<string, string, string, string>({
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    serializers: stringSerializers,
    // Idempotence makes client retries safe: the broker drops a resent batch it already wrote.
    idempotent: true,
    acks: ProduceAcks.ALL,
    timeout: requestTimeoutMs,
    requestTimeout: requestTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    retries: options.retriesMax ?? 3,
    retryDelay: options.retryDelayMs ?? 250,
    autocreateTopics: false,
  });
  let closed = false;
  const traced = tracingEnabled();

  async function sendRaw(messages: readonly OutgoingMessage[]): Promise<void> {
    if (closed) throw new ProducerClosedError();
    if (messages.length === 0) return;
    if (!(await slots.acquire(acquireTimeoutMs))) throw new ProducerBusyError(inFlightMax, acquireTimeoutMs);
    try {
      for (const chunk of chunksWithin(messages, sendBytesMax)) {
        await producer.send({
          messages: chunk.map((message) => ({
            topic: message.topic,
            key: message.key,
            value: message.value,
            ...(message.headers === undefined ? {} : { headers: message.headers }),
          })),
        });
      }
    } finally {
      slots.release();
    }
  }

  return {
    sendRaw,
    async sendEvents(events) {
      const messages = events.map((item) => {
        options.validate?.(item.topic, item.event);
        return {
          topic: item.topic,
          key: item.key,
          value: JSON.stringify(item.event),
          ...(item.headers === undefined ? {} : { headers: item.headers }),
        };
      });
      await publishTraced({ sendRaw }, messages, traced);
    },
    get inFlight() {
      return slots.inUse;
    },
    async close() {
      if (closed) return;
      closed = true;
      await producer.close();
      options.logger?.debug({ clientId: options.clientId }, 'kafka producer closed');
    },
  };
}

// An envelope's traceparent, found without parsing the whole JSON text.
const traceparentInJson = /"traceparent":"(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"/;

/**
 * Sends the messages; with tracing on, each whose envelope carries a
 * traceparent gets a producer span, a child of the span that made the event,
 * lasting until the broker acked (acks=all). Events made outside any trace
 * make no span.
 */
export async function publishTraced(
  producer: Pick<EventProducer, 'sendRaw'>,
  messages: readonly OutgoingMessage[],
  traced: boolean,
): Promise<void> {
  if (!traced) {
    await producer.sendRaw(messages);
    return;
  }
  const spans = messages.flatMap((message) => {
    const traceparent = traceparentInJson.exec(message.value)?.[1];
    if (traceparent === undefined) return [];
    return [
      startSpan(`publish ${message.topic}`, {
        kind: SpanKind.PRODUCER,
        parent: contextOfTraceparent(traceparent),
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          'messaging.destination.name': message.topic,
          'messaging.batch.message_count': messages.length,
        },
      }),
    ];
  });
  try {
    await producer.sendRaw(messages);
  } catch (error) {
    for (const span of spans) endSpan(span, error);
    throw error;
  }
  for (const span of spans) endSpan(span);
}
