import assert from 'node:assert/strict';

/**
 * Application-level group commit: concurrent callers' items are gathered and
 * run as ONE batch (one statement or one transaction, one WAL flush). On a
 * 2-core box the commit and the round trip, not the work, are what a single
 * request costs; a batch pays them once for all its items.
 *
 * No timer holds anything back: items gathered in one event-loop turn
 * (requests parsed together) leave together as soon as a slot is free; while
 * every slot is busy, arrivals queue and the next free slot takes up to
 * `batchSizeMax` of them. So a lone item costs what it did alone, and under
 * load batches grow with the load.
 *
 * Without `keyOf`, up to `concurrency` batches run at once from one queue.
 * With it, items are spread over `concurrency` lanes by key and each lane
 * runs one batch at a time: two batches running at once never share a key,
 * so they never wait for each other's row locks, and a hot key fills the
 * batches of its own lane while the other lanes go on.
 */
export interface GroupCommitOptions<Item, Result> {
  /** Names the queue in metrics (`nuri_group_commit_waiting{queue=…}`). */
  name?: string;
  /** Runs one batch atomically and answers one result per item, in the items' order. */
  run: (items: readonly Item[]) => Promise<Result[]>;
  /** Items per batch. */
  batchSizeMax: number;
  /** Items waiting for their batch; one more is refused at once (GroupCommitFullError) rather than queued. */
  queueLengthMax: number;
  /** Batches running at once; each holds one pooled connection. */
  concurrency: number;
  /** Items with the same key go through the same lane, one batch after the other. */
  keyOf?: (item: Item) => string;
}

export interface GroupCommit<Item, Result> {
  /** Resolves with the item's result once its batch committed; rejects with the batch's error. */
  submit(item: Item): Promise<Result>;
  /** Its queue as the metrics see it (held here so the weak reference lives as long as the group commit). */
  readonly stats: GroupCommitQueueStats;
}

/** Too many items wait already: the caller should answer "busy, retry" rather than queue without bound. */
export class GroupCommitFullError extends Error {
  constructor(queueLengthMax: number) {
    super(`group commit queue full (${queueLengthMax} waiting)`);
    Object.defineProperty(this, 'name', { value: 'GroupCommitFullError', enumerable: false });
  }
}

/** What a group commit holds back now: read by the metrics (metrics.ts) at each scrape. */
export interface GroupCommitQueueStats {
  readonly name: string;
  /** Items waiting for a batch. */
  readonly waiting: number;
  /** Batches running. */
  readonly running: number;
  /** Items refused so far because the queue was full. */
  readonly refused: number;
  readonly queueLengthMax: number;
}

// Every group commit of this process, weakly: a queue whose owner is gone
// (a test's app) drops out rather than being kept alive by its metrics.
const liveQueues = new Set<WeakRef<GroupCommitQueueStats>>();

/** The group commits alive in this process, for the metrics. */
export function groupCommitQueues(): GroupCommitQueueStats[] {
  const found: GroupCommitQueueStats[] = [];
  for (const reference of liveQueues) {
    const stats = reference.deref();
    if (stats === undefined) liveQueues.delete(reference);
    else found.push(stats);
  }
  return found;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

interface Queue<Item, Result> {
  waiting: Waiting<Item, Result>[];
  running: number;
  slots: number;
  startScheduled: boolean;
}

export function createGroupCommit<Item, Result>(
  options: GroupCommitOptions<Item, Result>,
): GroupCommit<Item, Result> {
  const { batchSizeMax, queueLengthMax, concurrency, keyOf } = options;
  assert.ok(batchSizeMax >= 1 && concurrency >= 1 && queueLengthMax >= 1, 'group commit limits');
  const queues: Queue<Item, Result>[] =
    keyOf === undefined
      ? [{ waiting: [], running: 0, slots: concurrency, startScheduled: false }]
      : Array.from({ length: concurrency }, () => ({
          waiting: [],
          running: 0,
          slots: 1,
          startScheduled: false,
        }));
  let waitingCount = 0;
  let refusedCount = 0;
  const stats: GroupCommitQueueStats = {
    name: options.name ?? 'unnamed',
    queueLengthMax,
    get waiting() {
      return waitingCount;
    },
    get running() {
      return queues.reduce((sum, queue) => sum + queue.running, 0);
    },
    get refused() {
      return refusedCount;
    },
  };
  liveQueues.add(new WeakRef(stats));

  function scheduleStart(queue: Queue<Item, Result>): void {
    if (queue.startScheduled || queue.running >= queue.slots || queue.waiting.length === 0) return;
    queue.startScheduled = true;
    // After this turn's other I/O callbacks, so their items join this batch.
    setImmediate(() => {
      queue.startScheduled = false;
      while (queue.running < queue.slots && queue.waiting.length > 0) void runBatch(queue);
    });
  }

  async function runBatch(queue: Queue<Item, Result>): Promise<void> {
    const batch = queue.waiting.splice(0, batchSizeMax);
    waitingCount -= batch.length;
    queue.running += 1;
    try {
      const results = await options.run(batch.map((entry) => entry.item));
      assert.equal(results.length, batch.length, 'a batch answers one result per item');
      for (const [index, entry] of batch.entries()) entry.resolve(results[index] as Result);
    } catch (error) {
      // The batch is atomic, so none of it committed: each item fails with its error.
      for (const entry of batch) entry.reject(error);
    } finally {
      queue.running -= 1;
      // What arrived while the batch ran has been gathered already: it leaves now.
      if (queue.waiting.length > 0 && !queue.startScheduled) void runBatch(queue);
    }
  }

  return {
    stats,
    submit(item) {
      if (waitingCount >= queueLengthMax) {
        refusedCount += 1;
        return Promise.reject(new GroupCommitFullError(queueLengthMax));
      }
      const queue = keyOf === undefined ? queues[0]! : queues[laneIndex(keyOf(item), queues.length)]!;
      return new Promise<Result>((resolve, reject) => {
        queue.waiting.push({ item, resolve, reject });
        waitingCount += 1;
        scheduleStart(queue);
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
