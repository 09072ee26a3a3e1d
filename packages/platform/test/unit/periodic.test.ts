import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createPeriodicPass, inBatches } from '../../src/periodic.ts';

/** A logger that keeps what it was told at warn. */
function recordingLogger() {
  const warnings: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.level === 40) warnings.push(entry);
      },
    },
  );
  return { logger, warnings };
}

describe('periodic passes', () => {
  it('when started with a first pass sooner than the interval, then the first runs then and the rest every interval, until stopped', async () => {
    const { logger } = recordingLogger();
    const passedAt: number[] = [];
    const pass = createPeriodicPass({
      name: 'test pass',
      logger,
      intervalMs: 1_000,
      firstPassAfterMs: 20,
      pass: async () => {
        passedAt.push(performance.now());
        return 1;
      },
    });
    const startedAt = performance.now();
    pass.start();
    while (passedAt.length < 2) await sleep(10);
    await pass.stop();
    assert.ok(
      passedAt[0]! - startedAt < 800,
      `the first pass came ${passedAt[0]! - startedAt} ms after start`,
    );
    // A timer never fires early: the second pass comes a whole interval after the first.
    assert.ok(passedAt[1]! - passedAt[0]! >= 990, `the second came ${passedAt[1]! - passedAt[0]!} ms later`);
    await sleep(1_200);
    assert.equal(passedAt.length, 2, 'no pass after stop');
  });

  it('when a pass fails, then it is logged and the next still comes; stop waits for a pass under way', async () => {
    const { logger, warnings } = recordingLogger();
    let passes = 0;
    let finished = 0;
    const pass = createPeriodicPass({
      name: 'failing pass',
      logger,
      intervalMs: 30,
      pass: async () => {
        passes += 1;
        if (passes === 1) throw new Error('the database was away');
        await sleep(100);
        finished += 1;
        return 0;
      },
    });
    pass.start();
    while (passes < 2) await sleep(5);
    await pass.stop();
    assert.equal(finished, 1, 'stop returned only after the pass under way finished');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.pass, 'failing pass');
    assert.match(String((warnings[0]?.err as { message?: string })?.message), /database was away/);
  });

  it('when batches are run, then they repeat until one does less than a batch, and the sum comes back', async () => {
    const left = [5, 5, 5, 2];
    const done = await inBatches(5, async () => left.shift() ?? 0);
    assert.equal(done, 17);
    assert.deepEqual(left, []);
    assert.equal(await inBatches(5, async () => 0), 0);
  });
});
