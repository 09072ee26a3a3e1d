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

/**
 * Starts `send(index, dueAt)` for each of `total` requests at `ratePerSecond`,
 * each at its due time whatever the answers do (late ones at once, so a stall
 * shows as latency, not as fewer requests), and resolves once all have ended.
 */
export async function runOpenLoop(
  ratePerSecond: number,
  total: number,
  send: (index: number, dueAt: number) => Promise<void>,
): Promise<void> {
  const startedAtMs = performance.now();
  const calls: Promise<void>[] = [];
  for (let index = 0; index < total; ) {
    const due = requestsDue(performance.now() - startedAtMs, ratePerSecond, total);
    for (; index < due; index += 1) calls.push(send(index, dueAtMs(startedAtMs, index, ratePerSecond)));
    if (index < total) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(calls);
}
