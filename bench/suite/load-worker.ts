// The load generator, a child process of the suite (load.ts starts it). It
// gets a LoadSpec over IPC, sends the load, and answers with a LoadResult.
//
// Why a process of its own: its CPU is then exactly its own (process.cpuUsage
// here counts nothing but load generation, not the suite's seeding, polling
// or invariant checks), and its event loop is not shared with anything that
// could delay a send or a timestamp.
import { Agent, request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';
import type {
  CollectedResponse,
  CpuShare,
  LoadResult,
  LoadSpec,
  SentRequest,
  WorkerMessage,
} from './load-types.ts';
import { runOpenLoop } from './open-loop.ts';
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
  /** Sockets the node:http drivers were handed: how many connections they opened. */
  private readonly sockets = new WeakSet<Socket>();
  private connectionsOpened: number | undefined;
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

  noteSocket(socket: Socket) {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    this.connectionsOpened = (this.connectionsOpened ?? 0) + 1;
  }

  finish(): LoadResult {
    clearInterval(this.progress);
    // A run of `amount` requests ends with its last answer: autocannon reports
    // itself done only on its next one-second tick, which made a 4.6 s run
    // of 10,000 payments 5.04 s, its rate 8 % low (up to a second per run).
    const endedAtMs =
      this.spec.amount !== undefined && this.inFlight.size === 0 && this.answeredAtMs.length > 0
        ? this.answeredAtMs.reduce((latest, at) => Math.max(latest, at), this.startedAtMs)
        : Date.now();
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
      // Its CPU until now, over the time until now (the suite scales the share by its own window).
      cpu: cpuShare(this.cpuAtStart, Date.now() - this.startedAtMs),
      ...(this.connectionsOpened === undefined ? {} : { connectionsOpened: this.connectionsOpened }),
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

/** What the node:http drivers share: the agent, where to, and how long an answer may take. */
interface HttpClient {
  agent: Agent;
  target: URL;
  timeoutMs: number;
  collectBodies: boolean;
}

function httpClient(spec: LoadSpec): HttpClient {
  return {
    // One socket per connection of the spec, kept between requests while the server keeps it.
    agent: new Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections }),
    target: new URL(spec.url),
    timeoutMs: spec.timeoutS * 1_000,
    collectBodies: spec.collectBodies === true,
  };
}

/**
 * Sends one request and records its answer; resolves once it is answered or
 * has failed (a failed one stays in flight, so it is reported in doubt).
 * `scheduledAt` (performance.now()): where latency runs from, when not from
 * the send (the open loop's due time).
 */
function sendOverHttp(
  client: HttpClient,
  recorder: Recorder,
  pending: Pending,
  scheduledAt?: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let settled = false;
    const fail = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      if (timedOut) recorder.timeouts += 1;
      else recorder.errors += 1;
      resolve();
    };
    let timedOut = false;
    const request = httpRequest(
      {
        agent: client.agent,
        host: client.target.hostname,
        port: client.target.port,
        method: pending.method,
        path: pending.path,
        headers: pending.headers,
        timeout: client.timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        if (client.collectBodies) response.on('data', (chunk: Buffer) => chunks.push(chunk));
        else response.resume();
        // The connection broke mid-answer: no answer to count.
        response.on('error', () => fail(timedOut));
        response.on('end', () => {
          if (settled) return;
          settled = true;
          const body = client.collectBodies ? Buffer.concat(chunks).toString() : '';
          const latencyMs = scheduledAt === undefined ? undefined : performance.now() - scheduledAt;
          recorder.answered(pending, response.statusCode ?? 0, body, latencyMs);
          resolve();
        });
      },
    );
    // A socket the agent has not handed out before: a connection opened (again, after the server closed one).
    request.on('socket', (socket) => recorder.noteSocket(socket));
    request.on('timeout', () => {
      timedOut = true;
      request.destroy(new Error('timeout'));
    });
    request.on('error', () => fail(timedOut));
    request.end(pending.body);
  });
}

/**
 * The closed loop over node:http: `connections` loops, each sending its next
 * request once the last is answered, until `amount` are sent (or
 * `durationS` is up; what is in flight then is still awaited). When the
 * server answers with `Connection: close` — Tomcat does after every 400 and
 * after 100 requests on one connection — node:http's agent drops that
 * socket and the loop's next request opens a new connection: the answer
 * counts once, the reconnect is part of the next request's latency (as a
 * real client pays it), and connectionsOpened says how often it happened.
 */
async function closedLoopHttp(spec: LoadSpec): Promise<LoadResult> {
  const recorder = new Recorder(spec);
  const client = httpClient(spec);
  const total = spec.amount ?? Number.POSITIVE_INFINITY;
  const endsAt = spec.amount === undefined ? performance.now() + (spec.durationS ?? 10) * 1_000 : Infinity;
  let next = 0;
  const loop = async () => {
    while (next < total && performance.now() < endsAt) {
      const index = next;
      next += 1;
      await sendOverHttp(client, recorder, recorder.next(index));
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.connections, total) }, loop));
  client.agent.destroy();
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
  const client = httpClient(spec);
  const rate = spec.rate ?? 1_000;
  const total = Math.round(rate * (spec.durationS ?? 10));
  await runOpenLoop(rate, total, (index, dueAt) =>
    sendOverHttp(client, recorder, recorder.next(index), dueAt),
  );
  client.agent.destroy();
  return recorder.finish();
}

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

// The suite that started this load is gone (stopped with Ctrl-C, or killed): so is the point of it.
process.once('disconnect', () => process.exit(1));

process.once('message', (spec: LoadSpec) => {
  const run =
    spec.mode === 'open'
      ? openLoop(spec)
      : spec.driver === 'node-http'
        ? closedLoopHttp(spec)
        : closedLoop(spec);
  run.then(
    (result) => send({ type: 'result', result }),
    (error: unknown) =>
      send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
