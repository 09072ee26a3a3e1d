import assert from 'node:assert/strict';
import { AppError } from '@nuri/platform/errors';

export interface GroupCommitOptions<Item, Result> {
  /**
   * Writes the items together, atomically (one statement or one transaction),
   * and returns one result per item, in the items' order.
   */
  write(items: readonly Item[]): Promise<Result[]>;
  /** Items per write. */
  batchSizeMax: number;
  /** Items waiting for a write; one more is refused at once (503) rather than queued behind minutes of work. */
  queueLengthMax: number;
  /** Writes running at once; each holds one database connection. */
  writesInFlightMax: number;
}

export interface GroupCommit<Item, Result> {
  /** Resolves once the item's write has committed; rejects when it failed (nothing of it committed). */
  submit(item: Item): Promise<Result>;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export function queueFull(): AppError {
  return new AppError(
    'SERVICE_UNAVAILABLE',
    503,
    'Too many requests are waiting to be written; retry shortly',
  );
}

/**
 * Group commit: concurrent requests share one write (and one commit, the
 * costly part: a WAL flush and a round trip) instead of one each. No timer
 * holds anything back: items gathered in one event-loop turn (requests
 * parsed together) go out together as soon as a write slot is free; while
 * every slot is busy, arrivals queue and the next free slot takes up to
 * `batchSizeMax` of them. So a lone request costs what it did alone, and
 * under load batches grow with the load.
 */
export function createGroupCommit<Item, Result>(
  options: GroupCommitOptions<Item, Result>,
): GroupCommit<Item, Result> {
  assert.ok(options.batchSizeMax >= 1 && options.writesInFlightMax >= 1 && options.queueLengthMax >= 1);
  const queue: Array<Waiting<Item, Result>> = [];
  let inFlight = 0;
  let pumpScheduled = false;

  async function write(batch: Array<Waiting<Item, Result>>): Promise<void> {
    try {
      const results = await options.write(batch.map((waiting) => waiting.item));
      assert.equal(results.length, batch.length, 'a group write must answer every item');
      for (const [index, waiting] of batch.entries()) waiting.resolve(results[index] as Result);
    } catch (error) {
      // The write is atomic, so none of the batch committed: each request fails
      // (a 5xx its client may retry). Items are checked before they queue, so
      // a failure here is the database's, not one item's.
      for (const waiting of batch) waiting.reject(error);
    }
  }

  function pump(): void {
    while (inFlight < options.writesInFlightMax && queue.length > 0) {
      const batch = queue.splice(0, options.batchSizeMax);
      inFlight += 1;
      void write(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  }

  return {
    submit(item) {
      if (queue.length >= options.queueLengthMax) return Promise.reject(queueFull());
      return new Promise<Result>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (pumpScheduled) return;
        pumpScheduled = true;
        // After this turn's other I/O callbacks, so their items join this batch.
        setImmediate(() => {
          pumpScheduled = false;
          pump();
        });
      });
    },
  };
}
