import { createEvent, type EventOf, messageKey, newEventId } from '@nuri/contracts/events';
import { setErrorName } from '@nuri/platform/errors';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import type { IssuedCoupon } from '../domain/campaigns.ts';
import { eventSource } from './topics.ts';

/** A request that found the send window full for longer than it may wait. */
export class SendWindowFullError extends Error {
  readonly code = 'SEND_WINDOW_FULL';
  constructor(windowMax: number, waitMs: number) {
    super(`${windowMax} coupon.issued events await their ack; no room freed within ${waitMs} ms`);
    setErrorName(this, 'SendWindowFullError');
  }
}

// Errors that mean the event never left this process or never reached a
// broker: the window or the producer refused it, or every connection attempt
// failed before a byte was sent. Anything else (a timeout after sending, a
// connection lost mid-request, a broker error) leaves its fate unknown: the
// broker may have written it.
const connectFailureCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const notSentErrorCodes = new Set(['SEND_WINDOW_FULL', 'SEND_EXPIRED', 'PRODUCER_BUSY', 'PRODUCER_CLOSED']);

export function neverSent(error: unknown, depth = 0): boolean {
  if (depth > 8 || typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof candidate.code === 'string') {
    if (notSentErrorCodes.has(candidate.code) || connectFailureCodes.has(candidate.code)) return true;
  }
  if (Array.isArray(candidate.errors) && candidate.errors.length > 0) {
    return candidate.errors.every((inner) => neverSent(inner, depth + 1));
  }
  return candidate.cause !== undefined && neverSent(candidate.cause, depth + 1);
}

/** A hand-off that did not end with the broker's ack; `mayHaveBeenSent` says whether Kafka may hold it anyway. */
export class HandOffFailedError extends Error {
  readonly mayHaveBeenSent: boolean;
  constructor(cause: unknown) {
    super(`coupon.issued was not acked: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    setErrorName(this, 'HandOffFailedError');
    this.mayHaveBeenSent = !neverSent(cause);
  }
}

/** An event that waited in the queue longer than it may: failed before it was ever handed to the producer. */
export class SendExpiredError extends Error {
  readonly code = 'SEND_EXPIRED';
  constructor(queueWaitMaxMs: number) {
    super(`coupon.issued waited over ${queueWaitMaxMs} ms for its turn and was not sent`);
    setErrorName(this, 'SendExpiredError');
  }
}

export interface HandOffOptions {
  producer: EventProducer;
  topic: string;
  /** Events accepted and not yet acked (queued + in flight). Never exceeded. */
  windowMax: number;
  /** Events per produce request. */
  batchSizeMax: number;
  /** How long a request waits for room in a full window. */
  waitMs: number;
  /**
   * How long an event may wait in the queue for its produce request; past it
   * the event is failed as never sent. This bounds the time from a win to the
   * end of its send (config.ts longestSendMs), which is what lets a Redis
   * rebuild wait out every send that began before the loss, on every instance.
   */
  queueWaitMaxMs?: number;
  /** Sees each produce request's size and time to ack (or failure), for metrics. */
  onBatch?: (size: number, seconds: number, ok: boolean) => void;
}

interface Entry {
  event: EventOf<'coupon.issued'>;
  settle: (error?: unknown) => void;
  enqueuedAt: number;
}

interface Waiter {
  admit: () => void;
  timer: NodeJS.Timeout;
}

/**
 * Hands coupon.issued events to Kafka and resolves each once the broker acked
 * it. The idempotent producer keeps one produce request in flight per
 * connection, so one event per request would cap the race at one broker round
 * trip per coupon. Instead, events that arrive while a request is in flight
 * ride together in the next one: no linger at low load, large batches under a
 * rush. Everything is bounded: at most `windowMax` events are queued or in
 * flight, and a request that finds no room waits `waitMs` at most.
 */
export const defaultQueueWaitMaxMs = 5_000;

/**
 * Sends the hand-off's producer keeps in flight: the idempotent producer
 * serialises them per broker connection anyway, and the hand-off batches
 * everything that waits (the bench's coupon-hand-off ceiling uses it too).
 */
export const handOffProducerInFlightMax = 2;

export function createCouponHandOff(options: HandOffOptions) {
  const { producer, topic, windowMax, batchSizeMax, waitMs } = options;
  const queueWaitMaxMs = options.queueWaitMaxMs ?? defaultQueueWaitMaxMs;
  const queue: Entry[] = [];
  const waiters: Waiter[] = [];
  let inFlight = 0;
  let sending = false;
  // Room granted to a request whose event is not queued yet; counted so the window is never overrun.
  let reserved = 0;

  function hasRoom(): boolean {
    return queue.length + inFlight + reserved < windowMax;
  }

  function admitWaiters(): void {
    while (waiters.length > 0 && hasRoom()) {
      const waiter = waiters.shift()!;
      clearTimeout(waiter.timer);
      reserved += 1;
      waiter.admit();
    }
  }

  /** Resolves with a reserved place in the window, or rejects after `waitMs`. */
  async function reserve(): Promise<void> {
    if (waiters.length === 0 && hasRoom()) {
      reserved += 1;
      return;
    }
    if (waitMs <= 0 || waiters.length >= windowMax) throw new SendWindowFullError(windowMax, waitMs);
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        admit: resolve,
        timer: setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new SendWindowFullError(windowMax, waitMs));
        }, waitMs),
      };
      waiters.push(waiter);
    });
  }

  async function pump(): Promise<void> {
    if (sending) return;
    sending = true;
    try {
      while (queue.length > 0) {
        const taken = queue.splice(0, batchSizeMax);
        const now = performance.now();
        const batch = taken.filter((entry) => now - entry.enqueuedAt <= queueWaitMaxMs);
        for (const entry of taken) {
          if (now - entry.enqueuedAt > queueWaitMaxMs) entry.settle(new SendExpiredError(queueWaitMaxMs));
        }
        if (batch.length === 0) {
          admitWaiters();
          continue;
        }
        inFlight += batch.length;
        const started = performance.now();
        try {
          await producer.sendEvents(batch.map(({ event }) => ({ topic, key: messageKey(event), event })));
          options.onBatch?.(batch.length, (performance.now() - started) / 1_000, true);
          for (const entry of batch) entry.settle();
        } catch (error) {
          options.onBatch?.(batch.length, (performance.now() - started) / 1_000, false);
          for (const entry of batch) entry.settle(error);
        } finally {
          inFlight -= batch.length;
          admitWaiters();
        }
      }
    } finally {
      sending = false;
    }
  }

  function enqueue(event: EventOf<'coupon.issued'>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      reserved -= 1;
      queue.push({
        event,
        settle: (error) => (error === undefined ? resolve() : reject(error)),
        enqueuedAt: performance.now(),
      });
      void pump();
    });
  }

  return {
    /** Resolves once the broker acked; otherwise rejects with HandOffFailedError. */
    async handOff(coupon: IssuedCoupon, correlationId: string): Promise<void> {
      const event = issuedEvent(coupon, correlationId, newEventId());
      try {
        await reserve();
        await enqueue(event);
      } catch (error) {
        throw new HandOffFailedError(error);
      }
    },

    /**
     * A re-send by the recovery job: same coupon id and code, a new event id,
     * because the core's inbox swallows an id it has seen without answering.
     */
    resend(coupon: IssuedCoupon, correlationId: string): Promise<void> {
      return this.handOff(coupon, correlationId);
    },

    get inWindow(): number {
      return queue.length + inFlight;
    },
  };
}

export type CouponHandOffPort = ReturnType<typeof createCouponHandOff>;

export function issuedEvent(
  coupon: IssuedCoupon,
  correlationId: string,
  eventId: string,
): EventOf<'coupon.issued'> {
  return createEvent(
    'coupon.issued',
    {
      couponId: coupon.couponId,
      campaignId: coupon.campaignId,
      userUuid: coupon.userUuid,
      code: coupon.code,
      issuedAt: coupon.issuedAt.toISOString(),
    },
    { source: eventSource, correlationId, id: eventId },
  );
}
