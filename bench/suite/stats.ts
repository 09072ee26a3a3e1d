// The arithmetic of the report: percentiles of one run's latencies, and the
// median and spread of a figure over repeated runs.

/** Nearest-rank percentile of ascending `sorted` (p in 0–100); NaN when there is nothing to rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** A figure over repeated runs: the median stands for it, min–max says how far to trust it. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Every run's value, in run order. */
  values: number[];
}

export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, values: [] };
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values: [...values] };
}

export interface LatencySummary {
  count: number;
  averageMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarizeLatencies(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    averageMs: mean(sorted),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
}

/**
 * Counts per whole second since `startMs`: completions[i] is how many
 * finished in second i. A last partial second is kept (it is real work) but
 * the caller should not read a rate from it.
 */
export function perSecond(timestampsMs: readonly number[], startMs: number, endMs: number): number[] {
  const seconds = Math.max(1, Math.ceil((endMs - startMs) / 1_000));
  const counts = new Array<number>(seconds).fill(0);
  for (const at of timestampsMs) {
    const index = Math.min(seconds - 1, Math.max(0, Math.floor((at - startMs) / 1_000)));
    counts[index]! += 1;
  }
  return counts;
}

/** `value ÷ ceiling`, or undefined when either is missing or the ceiling is zero. */
export function ratio(value: number | undefined, ceiling: number | undefined): number | undefined {
  if (value === undefined || ceiling === undefined) return undefined;
  if (!Number.isFinite(value) || !Number.isFinite(ceiling) || ceiling === 0) return undefined;
  return value / ceiling;
}

/** Decimals a figure in this unit is printed with: milliseconds 2, counts and rates none. */
export function digitsForUnit(unit: string): number {
  return unit.includes('ms') ? 2 : 0;
}

/** Thousands separators, fixed digits: how every figure is printed. */
export function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
