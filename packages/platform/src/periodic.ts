import type { Logger } from 'pino';

export interface PeriodicPassOptions {
  /** What the pass does, for its log lines ("inbox ids past retention deleted"). */
  name: string;
  logger: Logger;
  intervalMs: number;
  /** When the first pass runs after start; default one interval. */
  firstPassAfterMs?: number;
  /** One pass; returns how many things it did (logged when more than 0). */
  pass: () => Promise<number>;
}

export interface PeriodicPass {
  /** The first pass runs `firstPassAfterMs` after start, then every interval. */
  start(): void;
  /** Stops the schedule and waits for a pass under way. */
  stop(): Promise<void>;
}

/**
 * Runs a housekeeping pass every interval: chained rather than an interval, so
 * a slow pass never overlaps the next; a failed pass is logged and tried again
 * at the next interval. The timer does not hold the process open.
 */
export function createPeriodicPass(options: PeriodicPassOptions): PeriodicPass {
  const { logger, name } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();

  function schedule(afterMs = options.intervalMs): void {
    timer = setTimeout(() => {
      running = options
        .pass()
        .then((done) => {
          if (done > 0) logger.debug({ done }, name);
        })
        .catch((error: unknown) =>
          logger.warn(
            { err: error, pass: name },
            'a housekeeping pass failed; it is tried again at the next interval',
          ),
        )
        .finally(() => {
          if (timer !== undefined) schedule();
        });
    }, afterMs);
    timer.unref();
  }

  return {
    start() {
      if (timer === undefined) schedule(options.firstPassAfterMs);
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}

/** Runs `step` (a bounded delete returning its count) until it does less than `batchSizeMax`; returns the sum. */
export async function inBatches(batchSizeMax: number, step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const done = await step();
    total += done;
    if (done < batchSizeMax) return total;
  }
}
