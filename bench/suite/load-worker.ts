// The load generator, a child process of the suite (load.ts starts it). It
// gets a LoadSpec over IPC, sends the load, and answers with a LoadResult.
//
// Why a process of its own: its CPU is then exactly its own (process.cpuUsage
// here counts nothing but load generation, not the suite's seeding, polling
// or invariant checks), and its event loop is not shared with anything that
// could delay a send or a timestamp.
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import type {
  CollectedResponse,
  CpuShare,
  LoadResult,
  LoadSpec,
  SentRequest,
  WorkerMessage,
} from './load-types.ts';
import { dueAtMs, requestsDue } from './open-loop.ts';
import { requestOf } from './requests.ts';
import { summarizeLatencies } from './stats.ts';

type Pending = SentRequest & { sentAtMs: number; sentAtPerfMs: number };

/** What every run records, whichever loop drives it. */
class Recorder {
  readonly startedAtMs = Date.now();
  readonly latenciesMs: number[] = [];
  readonly answeredAtMs: number[] = [];
  readonly statuses: Record<string, number> = {};
  readonly collected: CollectedResponse[] = [];
  readonly inFlight = new Set<Pending>();
  sent = 0;
  errors = 0;
  timeouts = 0;
  private readonly cpuAtStart = process.cpuUsage();
  private readonly progress: NodeJS.Timeout;
  private readonly spec: LoadSpec;

  constructor(spec: LoadSpec) {
    this.spec = spec;
    this.progress = setInterval(() => {
      send({
        type: 'progress',
        elapsedS: (Date.now() - this.startedAtMs) / 1_000,
        answered: this.answeredAtMs.length,
      });
    }, 1_000);
  }

  /** Request number `index`, as a template plus its idempotency key, marked in flight. */
  next(index: number): Pending {
    const sent = {
      ...requestOf(this.spec.templates, index, this.spec.idempotencyKeyPrefix),
      sentAtMs: Date.now(),
      sentAtPerfMs: performance.now(),
    };
    this.inFlight.add(sent);
    this.sent += 1;
    return sent;
  }

  /** `latencyMs` defaults to the time since the request was handed over. */
  answered(request: Pending, status: number, body: string, latencyMs?: number) {
    if (!this.inFlight.delete(request)) return;
    const now = Date.now();
    this.latenciesMs.push(latencyMs ?? performance.now() - request.sentAtPerfMs);
    this.answeredAtMs.push(now);
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    if (this.spec.collectBodies) {
      this.collected.push({
        ...(request.tag === undefined ? {} : { tag: request.tag }),
        status,
        sentAtMs: request.sentAtMs,
        answeredAtMs: now,
        body,
      });
    }
  }

  finish(): LoadResult {
    clearInterval(this.progress);
    const endedAtMs = Date.now();
    const samples = new Array<number>(Math.max(1, Math.ceil((endedAtMs - this.startedAtMs) / 1_000))).fill(0);
    for (const at of this.answeredAtMs) {
      samples[Math.min(samples.length - 1, Math.floor((at - this.startedAtMs) / 1_000))]! += 1;
    }
    return {
      startedAtMs: this.startedAtMs,
      durationS: (endedAtMs - this.startedAtMs) / 1_000,
      sent: this.sent,
      answered: this.answeredAtMs.length,
      statuses: this.statuses,
      errors: this.errors,
      timeouts: this.timeouts,
      latency: summarizeLatencies(this.latenciesMs),
      samples,
      collected: this.collected,
      inDoubt: [...this.inFlight].map(({ sentAtMs: _at, sentAtPerfMs: _perf, ...request }) => request),
      cpu: cpuShare(this.cpuAtStart, endedAtMs - this.startedAtMs),
    };
  }
}

function cpuShare(start: NodeJS.CpuUsage, wallMs: number): CpuShare {
  const used = process.cpuUsage(start);
  const userMs = used.user / 1_000;
  const systemMs = used.system / 1_000;
  return { userMs, systemMs, wallMs, machineShare: (userMs + systemMs) / wallMs / availableParallelism() };
}

/** autocannon: the closed loop, each connection sending its next request once answered. */
async function closedLoop(spec: LoadSpec): Promise<LoadResult> {
  const recorder = new Recorder(spec);
  let index = 0;
  const connections = spec.amount === undefined ? spec.connections : Math.min(spec.connections, spec.amount);
  const tracker = autocannon({
    url: spec.url,
    connections,
    pipelining: 1,
    timeout: spec.timeoutS,
    ...(spec.amount === undefined ? { duration: spec.durationS ?? 10 } : { amount: spec.amount }),
    requests: [
      {
        // With one connection per request in flight (pipelining 1), autocannon
        // hands each request a fresh context and gives the same one to its answer.
        setupRequest: (request, context) => {
          const pending = recorder.next(index);
          index += 1;
          context.pending = pending;
          return {
            ...request,
            method: pending.method,
            path: pending.path,
            headers: pending.headers,
            ...(pending.body === undefined ? {} : { body: pending.body }),
          };
        },
        onResponse: (status, body, context) => {
          const pending = context.pending as Pending | undefined;
          if (pending !== undefined) recorder.answered(pending, status, body);
        },
      },
    ],
  });
  const result = await tracker;
  // autocannon counts a timeout as an error too.
  recorder.errors = result.errors - result.timeouts;
  recorder.timeouts = result.timeouts;
  return recorder.finish();
}

/**
 * The open loop: requests start on schedule whatever the answers do
 * (autocannon's overallRate is a closed loop bursting at each second's
 * start, which measures queueing behind the burst, not a steady load).
 * Latency runs from the scheduled start, so a client that fell behind is
 * charged to the system, not hidden (coordinated omission).
 */
async function openLoop(spec: LoadSpec): Promise<LoadResult> {
  const recorder = new Recorder(spec);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const target = new URL(spec.url);
  const rate = spec.rate ?? 1_000;
  const total = Math.round(rate * (spec.durationS ?? 10));
  const inFlight: Promise<void>[] = [];
  const fire = (index: number, scheduledAt: number) =>
    new Promise<void>((resolve) => {
      const pending = recorder.next(index);
      const request = httpRequest(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: pending.method,
          path: pending.path,
          headers: pending.headers,
          timeout: spec.timeoutS * 1_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const body = spec.collectBodies ? Buffer.concat(chunks).toString() : '';
            recorder.answered(pending, response.statusCode ?? 0, body, performance.now() - scheduledAt);
            resolve();
          });
        },
      );
      let timedOut = false;
      request.on('timeout', () => {
        timedOut = true;
        recorder.timeouts += 1;
        request.destroy(new Error('timeout'));
      });
      request.on('error', () => {
        if (!timedOut) recorder.errors += 1;
        resolve();
      });
      request.end(pending.body);
    });
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = requestsDue(performance.now() - started, rate, total);
    while (sent < due) {
      inFlight.push(fire(sent, dueAtMs(started, sent, rate)));
      sent += 1;
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  agent.destroy();
  return recorder.finish();
}

function send(message: WorkerMessage): void {
  process.send?.(message);
}

process.once('message', (spec: LoadSpec) => {
  const run = spec.mode === 'open' ? openLoop(spec) : closedLoop(spec);
  run.then(
    (result) => send({ type: 'result', result }),
    (error: unknown) =>
      send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
