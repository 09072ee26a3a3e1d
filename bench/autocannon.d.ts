// autocannon ships no types and @types/autocannon is not installed; this
// declares the part of its API the benches use.
declare module 'autocannon' {
  interface Histogram {
    average: number;
    p50: number;
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
    setupRequest?: (request: Record<string, unknown>) => Record<string, unknown>;
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
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
