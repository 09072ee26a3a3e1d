import { createEvent, type EventOf, messageKey, newEventId } from '@nuri/contracts/events';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import type { IssuedCoupon } from '../domain/campaigns.ts';
import { eventSource } from './topics.ts';

/** A request that found the send window full for longer than it may wait. */
export class SendWindowFullError extends Error {
  readonly code = 'SEND_WINDOW_FULL';
  constructor(windowMax: number, waitMs: number) {
    super(`${windowMax} coupon.issued events await their ack; no room freed within ${waitMs} ms`);
    this.name = 'SendWindowFullError';
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
  /** Sees each produce request's size and time to ack (or failure), for metrics. */
  onBatch?: (size: number, seconds: number, ok: boolean) => void;
}

interface Entry {
  event: EventOf<'coupon.issued'>;
  settle: (error?: unknown) => void;
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
export function createCouponHandOff(options: HandOffOptions) {
  const { producer, topic, windowMax, batchSizeMax, waitMs } = options;
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
        const batch = queue.splice(0, batchSizeMax);
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
      queue.push({ event, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      void pump();
    });
  }

  return {
    async handOff(coupon: IssuedCoupon, correlationId: string): Promise<void> {
      const event = issuedEvent(coupon, correlationId, newEventId());
      await reserve();
      await enqueue(event);
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
