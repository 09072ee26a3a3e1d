import assert from 'node:assert/strict';

/**
 * Application-level group commit: concurrent callers' items are gathered and
 * run as ONE batch (one statement, one transaction, one WAL flush). On a
 * 2-core box the commit and the round trip, not the work, are what a single
 * request costs; a batch pays them once for all its items.
 *
 * Items are spread over lanes by a key (the account), and each lane runs one
 * batch at a time. Two batches running at once therefore never touch the same
 * key: they never wait for each other's row locks, and a hot key fills the
 * batches of its own lane instead of splitting into small batches that queue
 * behind one another on its lock, while the other lanes go on.
 *
 * A lane starts its next batch as soon as its previous one is done (no timer):
 * under light load an item goes alone at once; under load items pile up while
 * the batch runs and leave together. Gathering waits only for the end of the
 * current event-loop turn, so requests parsed in the same turn share a batch.
 */
export interface GroupCommitOptions<Item, Result> {
  /** Items per batch. */
  batchSizeMax: number;
  /** Lanes, hence batches running at once (each holds one pooled connection). */
  lanes: number;
  /** Items waiting for their batch, all lanes together; beyond it `submit` refuses at once. */
  queueLengthMax: number;
  /** Items with the same key go through the same lane, one batch after the other. */
  keyOf: (item: Item) => string;
  /** Runs one batch and answers one result per item, in the items' order. */
  run: (items: readonly Item[]) => Promise<Result[]>;
}

export interface GroupCommit<Item, Result> {
  /** Resolves with the item's result, or rejects with its batch's error (GroupCommitFullError when full). */
  submit(item: Item): Promise<Result>;
}

/** Too many items wait already: the caller should answer "busy, retry" rather than queue without bound. */
export class GroupCommitFullError extends Error {
  constructor(queueLengthMax: number) {
    super(`group commit queue full (${queueLengthMax} waiting)`);
    Object.defineProperty(this, 'name', { value: 'GroupCommitFullError', enumerable: false });
  }
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

interface Lane<Item, Result> {
  waiting: Waiting<Item, Result>[];
  running: boolean;
  startScheduled: boolean;
}

export function createGroupCommit<Item, Result>(
  options: GroupCommitOptions<Item, Result>,
): GroupCommit<Item, Result> {
  const { batchSizeMax, queueLengthMax } = options;
  assert.ok(batchSizeMax >= 1 && options.lanes >= 1 && queueLengthMax >= 1, 'group commit limits');
  const lanes: Lane<Item, Result>[] = Array.from({ length: options.lanes }, () => ({
    waiting: [],
    running: false,
    startScheduled: false,
  }));
  let waitingCount = 0;

  function scheduleStart(lane: Lane<Item, Result>): void {
    if (lane.running || lane.startScheduled || lane.waiting.length === 0) return;
    lane.startScheduled = true;
    setImmediate(() => {
      lane.startScheduled = false;
      void runBatch(lane);
    });
  }

  async function runBatch(lane: Lane<Item, Result>): Promise<void> {
    const batch = lane.waiting.splice(0, batchSizeMax);
    waitingCount -= batch.length;
    lane.running = true;
    try {
      const results = await options.run(batch.map((entry) => entry.item));
      assert.equal(results.length, batch.length, 'a batch answers one result per item');
      for (const [index, entry] of batch.entries()) entry.resolve(results[index]!);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      lane.running = false;
      scheduleStart(lane);
    }
  }

  return {
    submit(item) {
      if (waitingCount >= queueLengthMax) return Promise.reject(new GroupCommitFullError(queueLengthMax));
      const lane = lanes[laneIndex(options.keyOf(item), lanes.length)]!;
      return new Promise<Result>((resolve, reject) => {
        lane.waiting.push({ item, resolve, reject });
        waitingCount += 1;
        scheduleStart(lane);
      });
    },
  };
}

/** FNV-1a: cheap, and spreads keys that differ only in a few digits. */
function laneIndex(key: string, laneCount: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index += 1) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % laneCount;
}
