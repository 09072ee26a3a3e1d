// autocannon ships no types and @types/autocannon is not installed; this
// declares the part of its API the benches use.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Histogram {
    average: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  }
  interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    latency: Histogram;
    requests: Histogram & { total: number };
    statusCodeStats?: Record<string, { count: number }>;
  }
  interface RequestSpec {
    /** Builds each request; `context` is fresh per request and handed to its onResponse (pipelining 1). */
    setupRequest?: (
      request: Record<string, unknown>,
      context: Record<string, unknown>,
    ) => Record<string, unknown>;
    onResponse?: (
      status: number,
      body: string,
      context: Record<string, unknown>,
      headers: Record<string, string>,
    ) => void;
  }
  interface Options {
    url: string;
    connections?: number;
    pipelining?: number;
    method?: string;
    timeout?: number;
    amount?: number;
    duration?: number;
    overallRate?: number;
    requests?: RequestSpec[];
  }
  /** The running load: awaitable for its result, and an emitter of 'response', 'tick', 'done'. */
  type Tracker = EventEmitter & PromiseLike<Result>;
  function autocannon(options: Options): Tracker;
  export default autocannon;
}
