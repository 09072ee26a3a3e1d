import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { groupCommitQueues } from './group-commit.ts';
import { openUpstreams } from './upstream.ts';

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
 *
 * Label values are route templates, topics, groups, queue names and instance
 * URLs: never an id, an account number or anything a customer typed, so the
 * series stay few and carry no personal data.
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
  registerGroupCommitMetrics(registry);
  registerUpstreamMetrics(registry);
  return { registry, httpRequestDuration };
}

// Read at each scrape from the queues themselves: nothing is counted on the hot path.
function registerGroupCommitMetrics(registry: Registry): void {
  type Queue = ReturnType<typeof groupCommitQueues>[number];
  const perQueue = (
    Metric: typeof Gauge | typeof Counter,
    name: string,
    help: string,
    read: (queue: Queue) => number,
  ) =>
    new Metric({
      name,
      help,
      labelNames: ['queue'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const queue of groupCommitQueues()) this.inc({ queue: queue.name }, read(queue));
      },
    });
  perQueue(
    Gauge,
    'nuri_group_commit_waiting',
    'Items waiting for their group-commit batch, per queue (a full queue answers 503)',
    (queue) => queue.waiting,
  );
  perQueue(
    Gauge,
    'nuri_group_commit_queue_length_max',
    'Items a group-commit queue holds before it refuses',
    (queue) => queue.queueLengthMax,
  );
  perQueue(
    Gauge,
    'nuri_group_commit_running',
    'Group-commit batches running (each holds a pooled connection), per queue',
    (queue) => queue.running,
  );
  perQueue(
    Counter,
    'nuri_group_commit_refused_total',
    'Items refused because their group-commit queue was full (answered 503)',
    (queue) => queue.refused,
  );
}

function registerUpstreamMetrics(registry: Registry): void {
  new Gauge({
    name: 'nuri_upstream_instance_ready',
    help: 'Whether a called instance is in rotation (1) or out: its circuit open, its probe failing (0)',
    labelNames: ['upstream', 'target'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const upstream of openUpstreams()) {
        for (const instance of upstream.instances()) {
          this.set({ upstream: upstream.name, target: instance.url }, instance.ready ? 1 : 0);
        }
      }
    },
  });
  new Gauge({
    name: 'nuri_upstream_outstanding_requests',
    help: 'Requests in flight to a called instance',
    labelNames: ['upstream', 'target'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const upstream of openUpstreams()) {
        for (const instance of upstream.instances()) {
          this.set({ upstream: upstream.name, target: instance.url }, instance.outstanding);
        }
      }
    },
  });
}

/**
 * A value read from the database (or another slow source) for the metrics:
 * at most once per `cacheMs` however many scrapers (and gauges) ask, and
 * never failing the scrape. A read that fails answers undefined, so the
 * gauges built on it leave their series out: an alert on them goes stale
 * rather than seeing a false zero.
 */
export function cachedRead<T>(
  read: () => Promise<T>,
  cacheMs: number,
  onError?: (error: unknown) => void,
): () => Promise<T | undefined> {
  let last: { at: number; value: T } | undefined;
  let running: Promise<T | undefined> | undefined;
  return () => {
    if (last !== undefined && Date.now() - last.at < cacheMs) return Promise.resolve(last.value);
    running ??= read()
      .then((value) => {
        last = { at: Date.now(), value };
        return value;
      })
      .catch((error: unknown) => {
        last = undefined;
        onError?.(error);
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}

export type ScrapedValue<Labels extends string> = {
  labels?: Partial<Record<Labels, string>>;
  value: number;
};

/**
 * A gauge whose series are read at scrape time (usually through cachedRead);
 * `undefined` from `read` leaves the gauge without series for that scrape.
 */
export function scrapedGauge<Labels extends string = never>(options: {
  registry: Registry;
  name: string;
  help: string;
  labelNames?: readonly Labels[];
  read: () => Promise<ReadonlyArray<ScrapedValue<Labels>> | undefined>;
}): void {
  if (options.registry.getSingleMetric(options.name) !== undefined) return;
  new Gauge<Labels>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    registers: [options.registry],
    async collect() {
      const values = await options.read();
      this.reset();
      for (const { labels, value } of values ?? []) {
        if (labels === undefined) this.set(value);
        else this.set(labels as Partial<Record<Labels, string | number>>, value);
      }
    },
  });
}
