import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

// Request latencies of a bank API: most answers in milliseconds, core calls
// and Kafka acks in tens to hundreds, timeouts at seconds.
const httpDurationBucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Metrics = {
  registry: Registry;
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
};

/**
 * One registry per call, never prom-client's global one, so several apps can
 * live in one process (tests, or the gateway with its own metrics).
 */
export function createMetrics(serviceName: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  collectDefaultMetrics({ register: registry, prefix: 'nuri_' });
  const httpRequestDuration = new Histogram({
    name: 'nuri_http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: httpDurationBucketsSeconds,
    registers: [registry],
  });
  return { registry, httpRequestDuration };
}
