/**
 * Closed → (failuresMax consecutive failures) → open: every call fails fast
 * for openMs → half-open: one probe at a time; its success closes the
 * circuit, its failure opens it again. Keeps a dead core from costing every
 * request a full timeout and from being hammered while it restarts.
 */
export interface CircuitBreaker {
  /** True when a call may go out now (in half-open, only the single probe). */
  tryAcquire(): boolean;
  recordSuccess(): void;
  recordFailure(): void;
  readonly state: 'closed' | 'open' | 'halfOpen';
}

export interface CircuitBreakerOptions {
  failuresMax: number;
  openMs: number;
  now?: () => number;
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const now = options.now ?? Date.now;
  let state: CircuitBreaker['state'] = 'closed';
  let consecutiveFailures = 0;
  let openedAt = 0;
  let probeInFlight = false;

  return {
    get state() {
      return state;
    },
    tryAcquire() {
      if (state === 'closed') return true;
      if (state === 'open') {
        if (now() - openedAt < options.openMs) return false;
        state = 'halfOpen';
        probeInFlight = false;
      }
      if (probeInFlight) return false;
      probeInFlight = true;
      return true;
    },
    recordSuccess() {
      consecutiveFailures = 0;
      probeInFlight = false;
      state = 'closed';
    },
    recordFailure() {
      consecutiveFailures += 1;
      probeInFlight = false;
      if (state === 'halfOpen' || consecutiveFailures >= options.failuresMax) {
        state = 'open';
        openedAt = now();
      }
    },
  };
}
