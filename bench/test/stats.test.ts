import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatNumber,
  median,
  percentile,
  perSecond,
  ratio,
  spreadOf,
  summarizeLatencies,
} from '../suite/stats.ts';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, index) => index + 1);

  test('when asked for p50, p90 and p99 of 1..100, then it answers 50, 90 and 99', () => {
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 90), 90);
    assert.equal(percentile(hundred, 99), 99);
  });

  test('when the rank falls between two values, then it takes the next one up (never interpolates)', () => {
    assert.equal(percentile([10, 20, 30], 50), 20);
    assert.equal(percentile([10, 20, 30, 40], 50), 20);
    assert.equal(percentile([10, 20, 30, 40], 51), 30);
  });

  test('when asked for p0 or p100, then it answers the smallest and the largest', () => {
    assert.equal(percentile([3, 5, 8], 0), 3);
    assert.equal(percentile([3, 5, 8], 100), 8);
  });

  test('when there is nothing to rank, then it answers NaN rather than a made-up zero', () => {
    assert.ok(Number.isNaN(percentile([], 99)));
  });

  test('when one value in a hundred is slow, then p99 does not see it and the max does', () => {
    const latencies = [...Array.from({ length: 99 }, () => 2), 500];
    const summary = summarizeLatencies(latencies);
    assert.equal(summary.p99Ms, 2);
    assert.equal(summary.maxMs, 500);
    assert.equal(summary.count, 100);
    assert.equal(summary.averageMs, (99 * 2 + 500) / 100);
  });

  test('when the latencies arrive unsorted, then the summary sorts them first', () => {
    const summary = summarizeLatencies([9, 1, 5, 3, 7]);
    assert.equal(summary.p50Ms, 5);
    assert.equal(summary.p90Ms, 9);
  });
});

describe('median and spread over runs', () => {
  test('when the count is odd, then the median is the middle run', () => {
    assert.equal(median([3, 1, 2]), 2);
  });

  test('when the count is even, then the median is the mean of the middle two', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  test('when there are no runs, then the median is NaN', () => {
    assert.ok(Number.isNaN(median([])));
  });

  test('when runs are summarized, then min, max, median and the values in run order are kept', () => {
    assert.deepEqual(spreadOf([1_200, 900, 1_100]), {
      median: 1_100,
      min: 900,
      max: 1_200,
      values: [1_200, 900, 1_100],
    });
  });

  test('when there are no runs, then the spread is empty and NaN, not zero', () => {
    const spread = spreadOf([]);
    assert.deepEqual(spread.values, []);
    assert.ok(Number.isNaN(spread.median));
  });
});

describe('per-second samples and ratios', () => {
  test('when answers complete over 2.5 s, then they are counted in three seconds, the last partial', () => {
    const start = 10_000;
    assert.deepEqual(perSecond([10_100, 10_900, 11_000, 11_500, 12_400], start, 12_500), [2, 2, 1]);
  });

  test('when a timestamp falls outside the window, then it is counted in the nearest second', () => {
    assert.deepEqual(perSecond([9_000, 13_000], 10_000, 11_000), [2]);
  });

  test('when the ceiling is missing or zero, then there is no ratio', () => {
    assert.equal(ratio(10, undefined), undefined);
    assert.equal(ratio(10, 0), undefined);
    assert.equal(ratio(Number.NaN, 5), undefined);
    assert.equal(ratio(5, 20), 0.25);
  });

  test('when a figure is missing, then it prints as a dash, not as NaN', () => {
    assert.equal(formatNumber(undefined), '—');
    assert.equal(formatNumber(Number.NaN), '—');
    assert.equal(formatNumber(12_345.678, 1), '12,345.7');
  });
});
