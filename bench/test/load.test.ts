import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadWithoutRequests, samplesFromTotals } from '../suite/load.ts';

test('when running totals are seen at times, then each second gets what completed in it', () => {
  const totals = [
    { atMs: 1_100, total: 10 },
    { atMs: 1_900, total: 30 },
    { atMs: 2_500, total: 45 },
    { atMs: 4_200, total: 50 },
  ];
  assert.deepEqual(samplesFromTotals(totals, 1_000), [30, 15, 0, 5]);
});

test('when a total is seen lower than before, then nothing is taken back', () => {
  assert.deepEqual(
    samplesFromTotals(
      [
        { atMs: 100, total: 5 },
        { atMs: 200, total: 4 },
        { atMs: 1_200, total: 6 },
      ],
      0,
    ),
    [5, 1],
  );
  assert.deepEqual(samplesFromTotals([], 0), []);
});

test('when work sent no request, then its load has a duration, completions and the generator share but no latency', () => {
  const load = loadWithoutRequests({
    startedAtMs: 1_000,
    endedAtMs: 3_500,
    completed: 5_000,
    samples: [2_000, 2_000, 1_000],
    generatorShare: 0.05,
  });
  assert.equal(load.durationS, 2.5);
  assert.equal(load.answered, 5_000);
  assert.deepEqual(load.statuses, {});
  assert.ok(Number.isNaN(load.latency.p99Ms));
  assert.equal(load.cpu.machineShare, 0.05);
  assert.deepEqual(load.inDoubt, []);
});
