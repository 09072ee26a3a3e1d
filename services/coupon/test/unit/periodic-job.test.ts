import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@nuri/platform/logger';
import { createPeriodicJob } from '../../src/jobs/recovery.ts';

const logger = createLogger({ name: 'coupon-test', level: 'silent' });

describe('the periodic recovery job', () => {
  it('when started, then it runs at once and then every interval, never two runs at a time, and a failed run does not stop it', async () => {
    let runs = 0;
    let concurrent = 0;
    let concurrentMax = 0;
    const job = createPeriodicJob({
      name: 'test',
      intervalMs: 20,
      logger,
      work: async () => {
        runs += 1;
        concurrent += 1;
        concurrentMax = Math.max(concurrentMax, concurrent);
        await sleep(5);
        concurrent -= 1;
        if (runs === 2) throw new Error('broker down');
        return 1;
      },
    });
    job.start();
    await sleep(1);
    assert.equal(runs, 1, 'ran at start');
    await Promise.all([job.runNow(), job.runNow()]);
    await sleep(120);
    await job.stop();
    const stoppedAt = runs;
    assert.ok(runs >= 4, `ran ${runs} times`);
    assert.equal(concurrentMax, 1);
    await sleep(60);
    assert.equal(runs, stoppedAt, 'no run after stop');
  });
});
