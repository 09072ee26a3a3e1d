import { AppError } from '@nuri/platform/errors';

export interface OneAtATime {
  /** Runs `work` after every earlier call with the same key has settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
}

/**
 * Per-key serialisation inside this process: calls with one key run one after
 * another, calls with different keys run freely. At most `waitingMax` calls
 * may wait behind one key; one more is refused (429) rather than queued.
 * Keys leave the map when their last call settles, so it holds only keys in use.
 */
export function createOneAtATime(waitingMax: number): OneAtATime {
  const queues = new Map<string, { tail: Promise<unknown>; length: number }>();
  return {
    async run(key, work) {
      const queue = queues.get(key) ?? { tail: Promise.resolve(), length: 0 };
      if (queue.length > waitingMax) {
        throw new AppError('RATE_LIMITED', 429, 'Too many attempts in progress; slow down', {
          retryAfterSeconds: 1,
        });
      }
      queue.length += 1;
      queues.set(key, queue);
      const previous = queue.tail;
      const mine = previous.then(work, work);
      queue.tail = mine.catch(() => {});
      try {
        return await mine;
      } finally {
        queue.length -= 1;
        if (queue.length === 0) queues.delete(key);
      }
    },
  };
}
