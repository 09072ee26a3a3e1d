/**
 * The open loop's schedule: request k (from 0) is due `k / rate` seconds after
 * the start, so by `elapsedMs` the first floor(elapsed × rate) + 1 are due.
 * A request sent later than its due time is charged for the delay (latency
 * runs from its due time), so an off-by-one here would add a whole interval
 * to every figure (10 ms at 100/s).
 */
export function requestsDue(elapsedMs: number, ratePerSecond: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs / 1_000) * ratePerSecond) + 1);
}

/** When request `index` is due, on the clock `startedAtMs` was read from. */
export function dueAtMs(startedAtMs: number, index: number, ratePerSecond: number): number {
  return startedAtMs + (index / ratePerSecond) * 1_000;
}
