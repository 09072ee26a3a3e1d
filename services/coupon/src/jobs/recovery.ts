import type { Logger } from '@nuri/platform/logger';

export interface PeriodicJob {
  /** Runs once now, then every interval. */
  start(): void;
  /** No new run starts; resolves when the one in progress (if any) ends. */
  stop(): Promise<void>;
  /** Runs now unless a run is in progress (then waits for that one); for tests and start-up. */
  runNow(): Promise<void>;
}

/**
 * Runs `work` every `intervalMs`, never two at once. A failed run is logged
 * and the next one tries again; the timer does not keep the process alive.
 */
export function createPeriodicJob(options: {
  name: string;
  intervalMs: number;
  work: () => Promise<number>;
  logger: Logger;
}): PeriodicJob {
  const { name, intervalMs, work, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  function runNow(): Promise<void> {
    running ??= work()
      .then((count) => {
        if (count > 0) logger.info({ job: name, count }, 'periodic job did work');
      })
      .catch((error: unknown) =>
        logger.error({ err: error, job: name }, 'periodic job failed; retrying next run'),
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void runNow().finally(schedule);
    }, intervalMs);
    timer.unref();
  }

  return {
    start() {
      void runNow().finally(schedule);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    runNow,
  };
}
